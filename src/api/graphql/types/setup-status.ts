import { isSetupRequired } from '../../../accounts/setup-status.ts';
import { builder } from '../builder.ts';

builder.queryField('setupRequired', (t) =>
  t.boolean({
    description:
      'True on a fresh install, before the `setup` mutation has created the first tenant and owner. Public: the web app asks it before anyone signs in.',
    resolve: (_root, _args, ctx) => isSetupRequired(ctx.services.pool),
  }),
);
