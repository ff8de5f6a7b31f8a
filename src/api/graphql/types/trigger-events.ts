/**
 * What the event filters of webhook triggers (config.events) turned away:
 * Trigger.filteredEvents. The filter itself: api/webhooks/event-filter.ts.
 */
import {
  selectFilteredEvents,
  type FilteredEventRow,
} from '../../../db/queries/webhook-filtered-events.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';
import { TriggerRef } from './triggers.ts';

const FilteredEventRef = builder.objectRef<FilteredEventRow>('FilteredWebhookEvent').implement({
  description:
    'Verified deliveries of one event that the trigger’s event filter answered 200 without starting a run.',
  fields: (t) => ({
    event: t.exposeString('event'),
    deliveries: t.exposeInt('deliveries'),
    lastDeliveryId: t.exposeString('lastDeliveryId', { nullable: true }),
    firstReceivedAt: t.expose('firstReceivedAt', { type: 'DateTime' }),
    lastReceivedAt: t.expose('lastReceivedAt', { type: 'DateTime' }),
  }),
});

builder.objectField(TriggerRef, 'filteredEvents', (t) =>
  t.field({
    type: [FilteredEventRef],
    description:
      'Webhook triggers with config.events: the events filtered out, one entry per event, most recent first.',
    resolve: (trigger, _a, ctx) =>
      inTenant(ctx, (db) => selectFilteredEvents(db, { triggerId: trigger.id })),
  }),
);
