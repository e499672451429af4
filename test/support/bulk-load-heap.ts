/**
 * Run by create-many.test.ts as `node --expose-gc --import tsx`: loads POSTS posts from a generator
 * through posts.createMany and prints, as JSON, the heap after a collection before the load and the
 * largest heap after a collection at each chunk, with the characters of text the rows carried.
 */
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase } from '../../src/database/database.js';

const POSTS = Number(process.env.BULK_POSTS);
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run with --expose-gc');
const heap = () => {
  collect();
  return process.memoryUsage().heapUsed;
};

const db = createDatabase(loadConfig(process.env));
try {
  const author = await db.users.create({ email: `heap-${Date.now()}@example.com` });
  let chars = 0;
  function* posts() {
    for (let index = 0; index < POSTS; index += 1) {
      const content = `post ${index} `.padEnd(400, 'lorem ipsum dolor sit amet ');
      chars += content.length;
      yield { title: `Post ${index}`, content, authorId: author.id, metadata: { index } };
    }
  }
  const before = heap();
  let peak = before;
  const { count } = await db.posts.createMany(posts(), {
    onProgress: () => {
      peak = Math.max(peak, heap());
    },
  });
  console.log(JSON.stringify({ count, before, peak, chars }));
} finally {
  await db.disconnect();
}
