// Imported first by cli.ts, before the rest loads (a few hundred ms on a busy machine): Ctrl-C ends
// with 130 at once, until a run's own handler (Fleet.open) is there to release the lock and close.
process.on('SIGINT', () => {
  if (process.listenerCount('SIGINT') === 1) process.exit(130);
});
