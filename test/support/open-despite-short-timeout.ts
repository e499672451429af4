/**
 * Opens a connection through a pool whose timeout is short on purpose (a test of POSTGRES_POOL_TIMEOUT_MS,
 * or pg's connectionTimeoutMillis). That timeout also bounds opening a connection, which a busy machine
 * can outlast: the attempt is made again while it times out, so the short timeout only ever decides the
 * wait the test is about.
 */
const ATTEMPTS = 20;

/** What `open` resolves to, once an attempt did not time out. */
export async function openDespiteShortTimeout<T>(open: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      const timedOut = error instanceof Error && /timeout/i.test(error.message);
      if (!timedOut || attempt === ATTEMPTS) throw error;
    }
  }
}
