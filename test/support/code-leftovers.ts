/**
 * What a JavaScript step could find of an earlier step (its globals, its changes to built-ins),
 * for the tests that plant something in one step and look in the next (ADR 0009). LOOK names
 * nothing that keeps a step out of a compartment (javascript-hardened.ts), so it runs in a
 * compartment or a fresh context, whichever the pool gives it.
 */
export const LOOK = `
  return {
    stash: typeof stash,
    declared: typeof declared,
    leaked: ({}).leaked ?? null,
    extra: typeof [].extra,
    json: JSON.stringify({ a: 1 }),
    parse: typeof JSON.parse('{}').polluted,
  };
`;

/** LOOK's answer when nothing of an earlier step is there. */
export const CLEAN = {
  stash: 'undefined',
  declared: 'undefined',
  leaked: null,
  extra: 'undefined',
  json: '{"a":1}',
  parse: 'undefined',
};
