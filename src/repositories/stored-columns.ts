/**
 * Every column of the three tables a write sets, in the tables' order (the search vector excepted: a
 * trigger computes it). A nested create returns them of each new row; a bulk load copies them.
 */
export const USER_COLUMNS = [
  'id',
  'email',
  'name',
  'profile_image',
  'created_at',
  'updated_at',
  'deleted_at',
] as const;

export const POST_COLUMNS = [
  'id',
  'title',
  'content',
  'published',
  'authorId',
  'metadata',
  'created_at',
  'updated_at',
  'deleted_at',
] as const;

export const ROLE_COLUMNS = ['id', 'name', 'description', 'userId', 'created_at'] as const;
