/**
 * The `code` of anything thrown: a server error's SQLSTATE ('55P03'), a Node system error's name
 * ('ENOENT'), or undefined when there is none or it is not a string.
 */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' ? code : undefined;
}
