/**
 * What a span and a metric say about a statement without its values: the operations it runs and the
 * tables they act on, read off the SQL text (`db.query.summary`, `db.operation.name`,
 * `db.collection.name` in OpenTelemetry's database conventions). The text is all there is for every
 * path (the query builder, raw SQL, BEGIN, COPY), and the layer's texts repeat, so each is read once.
 *
 * A light reading, not a parser: literals, quoted identifiers and comments are skipped; an operation is
 * counted at the top level of the statement, or at any depth when it writes (a data-modifying CTE); its
 * target is the first table named after it at its own depth (so a subquery's tables are not its).
 */

export interface QuerySummary {
  /** e.g. `INSERT pg_users INSERT pg_posts SELECT new_user`, at most 255 characters. */
  readonly summary: string;
  /** The first operation, e.g. `SELECT`; undefined when none is recognised. */
  readonly operation: string | undefined;
  /** The first operation's table as written, schema included (`shared_db.pg_users`), unquoted. */
  readonly collection: string | undefined;
}

const OPERATIONS = new Set([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'MERGE',
  'COPY',
  'BEGIN',
  'START',
  'COMMIT',
  'END',
  'ROLLBACK',
  'SAVEPOINT',
  'RELEASE',
  'SET',
  'SHOW',
  'RESET',
  'CREATE',
  'ALTER',
  'DROP',
  'TRUNCATE',
  'CALL',
  'DO',
  'VALUES',
  'TABLE',
  'DECLARE',
  'FETCH',
  'CLOSE',
  'LOCK',
  'VACUUM',
  'ANALYZE',
  'EXPLAIN',
  'LISTEN',
  'NOTIFY',
  'GRANT',
  'REVOKE',
  'COMMENT',
  'REFRESH',
  'REINDEX',
  'PREPARE',
  'EXECUTE',
  'DISCARD',
]);
/** Operations that change data: counted even inside parentheses (a CTE's INSERT, UPDATE, DELETE). */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
/** Words after which a table is named. */
const TARGET_BEFORE = new Set(['FROM', 'INTO', 'UPDATE', 'JOIN', 'TABLE', 'COPY', 'ONLY']);
/** Words that may stand between such a word and the table (`TABLE IF NOT EXISTS x`, `FROM ONLY x`). */
const SKIPPED_BEFORE_TARGET = new Set(['ONLY', 'IF', 'NOT', 'EXISTS', 'LATERAL']);
/** Words that are never a table. */
const NOT_A_TABLE = new Set(['SELECT', 'VALUES', 'STDIN', 'STDOUT', 'WITH', 'SET', 'WHERE']);

const MAX_SUMMARY = 255;
const MAX_CACHED = 2000;

interface Token {
  /** A word upper-cased; an identifier as written, unquoted; or a single punctuation character. */
  text: string;
  kind: 'word' | 'identifier' | 'punctuation';
  depth: number;
}

/** The tokens of `sql` that matter for the summary: words, identifiers, `.`, `(`, `)`, `,`, `;`. */
function* tokens(sql: string): Generator<Token> {
  let depth = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === "'") {
      // '' inside a literal is a quote; an E'' literal's \' is skipped too.
      const escapes = i > 0 && /[eE]/.test(sql[i - 1] as string);
      i += 1;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i += 1;
      }
      i += 1;
    } else if (c === '"') {
      let text = '';
      i += 1;
      while (i < n) {
        if (sql[i] === '"' && sql[i + 1] === '"') {
          text += '"';
          i += 2;
        } else if (sql[i] === '"') break;
        else text += sql[i++];
      }
      i += 1;
      yield { text, kind: 'identifier', depth };
    } else if (c === '$' && /[A-Za-z_$]/.test(sql[i + 1] ?? '')) {
      // A dollar-quoted body: $tag$ … $tag$.
      const tag = /^\$[A-Za-z_0-9]*\$/.exec(sql.slice(i, i + 64))?.[0];
      if (tag) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end < 0 ? n : end + tag.length;
      } else i += 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z_0-9$]/.test(sql[i] as string)) i += 1;
      const word = sql.slice(start, i);
      yield { text: word, kind: 'word', depth };
    } else if (c === '(') {
      depth += 1;
      yield { text: c, kind: 'punctuation', depth };
      i += 1;
    } else if (c === ')') {
      yield { text: c, kind: 'punctuation', depth };
      depth -= 1;
      i += 1;
    } else if (c === '.' || c === ',' || c === ';') {
      yield { text: c, kind: 'punctuation', depth };
      i += 1;
    } else i += 1;
  }
}

/** Reads the summary of `sql` (uncached; see `querySummary`). */
export function readQuerySummary(sql: string): QuerySummary {
  const parts: string[] = [];
  let operation: string | undefined;
  let collection: string | undefined;
  /** The latest operation counted, the depth it was found at, and whether its table is known. */
  let open: { depth: number; hasTarget: boolean; first: boolean } | undefined;
  let statementStart = true;
  let expectTarget = false;
  let previous = '';
  let name: string[] | undefined;
  let afterDot = false;
  const finishName = () => {
    if (!name || !open) return;
    parts.push(name[name.length - 1] as string);
    if (open.first) collection = name.join('.');
    open.hasTarget = true;
    name = undefined;
  };
  for (const token of tokens(sql)) {
    if (name) {
      if (!afterDot && token.text === '.') {
        afterDot = true;
        continue;
      }
      if (afterDot && token.kind !== 'punctuation') {
        name.push(token.text);
        afterDot = false;
        continue;
      }
      finishName();
      afterDot = false;
    }
    if (token.text === ';') {
      statementStart = true;
      continue;
    }
    const upper = token.kind === 'word' ? token.text.toUpperCase() : '';
    const first = statementStart;
    statementStart = false;
    const before = previous;
    previous = upper;
    if (expectTarget) {
      if (SKIPPED_BEFORE_TARGET.has(upper)) continue;
      expectTarget = false;
      const table = token.kind === 'identifier' || (token.kind === 'word' && !NOT_A_TABLE.has(upper));
      if (open && !open.hasTarget && token.depth === open.depth && table) {
        name = [token.text];
        continue;
      }
    }
    if (token.kind !== 'word') continue;
    // `DO UPDATE` (ON CONFLICT) and `FOR UPDATE` (a row lock) are clauses, not statements.
    const clause = before === 'DO' || before === 'FOR';
    const counted =
      OPERATIONS.has(upper) &&
      !clause &&
      ((first && token.depth === 0) || WRITES.has(upper) || (upper === 'SELECT' && token.depth === 0));
    if (counted) {
      const named = upper === 'START' ? 'START TRANSACTION' : upper;
      operation ??= named;
      parts.push(named);
      open = { depth: token.depth, hasTarget: false, first: open === undefined };
      expectTarget = upper === 'UPDATE' || upper === 'COPY' || upper === 'TABLE';
      continue;
    }
    if (open && !open.hasTarget && token.depth === open.depth && TARGET_BEFORE.has(upper)) {
      expectTarget = true;
    }
  }
  finishName();
  const summary = parts.join(' ').slice(0, MAX_SUMMARY);
  return { summary, operation, collection };
}

const cache = new Map<string, QuerySummary>();

/** `readQuerySummary`, remembered per text (the layer's texts repeat; a bounded number is kept). */
export function querySummary(sql: string): QuerySummary {
  let found = cache.get(sql);
  if (found === undefined) {
    found = readQuerySummary(sql);
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(sql, found);
  }
  return found;
}
