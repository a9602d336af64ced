// wgsl_reflect's `main` is a CommonJS build inside an ESM package; Node needs the module
// build by path. Its types are the package's own.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
