import type { Logger } from '../observability/logger.ts';

type Stopper = { name: string; stop: () => Promise<void> };

/**
 * Ordered shutdown on SIGINT/SIGTERM: stoppers run in reverse order of registration (the
 * HTTP server before the worker before the database). A second signal exits at once.
 */
export class Lifecycle {
  readonly #stoppers: Stopper[] = [];
  readonly #logger: Logger;
  #stopping: Promise<void> | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  onStop(name: string, stop: () => Promise<void>): void {
    this.#stoppers.push({ name, stop });
  }

  handleSignals(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        if (this.#stopping) {
          this.#logger.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        this.#logger.info({ signal }, 'shutting down');
        void this.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      });
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#runStoppers();
    return this.#stopping;
  }

  async #runStoppers(): Promise<void> {
    let failed = false;
    for (const s of [...this.#stoppers].reverse()) {
      try {
        await s.stop();
        this.#logger.info({ component: s.name }, 'stopped');
      } catch (err) {
        failed = true;
        this.#logger.error({ component: s.name, err }, 'failed to stop cleanly');
      }
    }
    if (failed) throw new Error('shutdown incomplete');
  }
}
