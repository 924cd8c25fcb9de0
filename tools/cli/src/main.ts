// `pnpm switchboard <command>`: the operator's view of live sessions (see USAGE in commands.ts).
import { run } from './commands';

const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // `switchboard tail <id> | head` closes the pipe: that is a normal way to stop.
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  signal: stop.signal,
});
