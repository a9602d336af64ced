// The page's message log: what happened, newest first, errors marked.
import { $, errorText } from './dom.ts';

export const messages: { time: string; text: string; error: boolean }[] = [];
export function say(text: string, error = false) {
  const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  messages.push({ time, text, error });
  const li = document.createElement('li');
  if (error) li.className = 'error';
  const t = document.createElement('time');
  t.textContent = time;
  li.append(t, text);
  const ul = $('messages');
  ul.prepend(li);
  while (ul.children.length > 60) ul.lastChild!.remove();
  if (error) console.warn(text);
}
/** Whatever escapes is said on the page, not only in the console. */
export function reportUncaughtErrors() {
  window.addEventListener('error', (e) => {
    // Browsers report a benign layout notice this way; it is not the page failing.
    if (/ResizeObserver loop/.test(e.message)) return;
    say(`unexpected error: ${e.message}`, true);
  });
  window.addEventListener('unhandledrejection', (e) => say(`unexpected error: ${errorText(e.reason)}`, true));
}
