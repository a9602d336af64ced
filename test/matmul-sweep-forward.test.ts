// Every matmul candidate on 20 random shapes of the forward layout against float64 (test/support/matmul-sweep.ts).
import { sweepLayout } from './support/matmul-sweep.ts';

sweepLayout(0);
