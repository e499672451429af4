/** The soft-delete filter every default read applies: deleted rows are hidden unless asked for. */
import type { SoftDeleteFilter } from '../models.js';

export type DeletedState = 'live' | 'deleted' | 'any';

export function deletedState(filter: SoftDeleteFilter = {}): DeletedState {
  if (filter.onlyDeleted) return 'deleted';
  return filter.withDeleted ? 'any' : 'live';
}
