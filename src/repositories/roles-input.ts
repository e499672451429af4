/** What roles.assign (and a nested create of a user) accepts. */
import { z } from 'zod';
import { storableText } from '../query/input-rules.js';
import { notBlank } from './input-fields.js';

export const newRoleSchema = z.strictObject({
  name: notBlank(100),
  description: storableText(500).nullable().optional(),
});

export type NewRoleInput = z.input<typeof newRoleSchema>;
