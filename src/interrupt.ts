// Imported first by cli.ts, so that it runs before the rest of the program is even loaded (a few
// hundred ms on a busy machine): Ctrl-C before a run has its own handler (Fleet.open) ends with 130
// at once; while a run's handler is there, that one does the work (lock release, close).
process.on('SIGINT', () => {
  if (process.listenerCount('SIGINT') === 1) process.exit(130);
});
