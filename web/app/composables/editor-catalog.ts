/**
 * What a workflow editor knows about the things its steps name: the actions they use (their
 * schemas: the step forms, the mapping's completion) and the workflows they call (their names),
 * fetched by id as steps name them (the pickers search the server), and every connection of
 * the tenant (all pages). Both editors use it: version 1 (WorkflowEditor.vue) and version 2
 * (EditorV2.vue).
 */
import { graphql, request } from '~/graphql/client';
import type { ActionOption } from '~/components/workflow/StepPanel.vue';

const StepActionsQuery = graphql(`
  query EditorActions($ids: [ID!]) {
    actions(ids: $ids, first: 100) {
      nodes {
        id
        name
        kind
        inputSchema
        outputSchema
        app {
          id
          name
          authKind
        }
      }
    }
  }
`);
const ConnectionsQuery = graphql(`
  query EditorConnections($after: String) {
    connections(first: 100, after: $after) {
      endCursor
      hasNextPage
      nodes {
        id
        name
        appId
      }
    }
  }
`);
const WorkflowNamesQuery = graphql(`
  query EditorWorkflows($ids: [ID!]) {
    workflows(ids: $ids, first: 100, includeArchived: true) {
      nodes {
        id
        name
      }
    }
  }
`);

/** `actionIds` and `workflowIds`: what the steps name now (empty ids are ignored). */
export function useEditorCatalog(
  actionIds: () => (string | undefined)[],
  workflowIds: () => (string | undefined)[] = () => [],
) {
  const known = ref(new Map<string, ActionOption & { outputSchema: unknown }>());
  const workflowNames = ref(new Map<string, string>());
  const { data: catalog } = useAsyncData('editor-catalog', async () => ({
    connections: await fetchAllPages(
      async (after) => (await request(ConnectionsQuery, { after })).connections,
    ),
  }));
  const connections = computed(() => catalog.value?.connections ?? []);
  const actions = computed<ActionOption[]>(() => [...known.value.values()]);
  watch(
    actionIds,
    async (ids) => {
      const missing = [...new Set(ids)]
        .filter((id): id is string => !!id && !known.value.has(id))
        .slice(0, 100);
      if (missing.length === 0) return;
      const res = await request(StepActionsQuery, { ids: missing }).catch(() => null);
      if (!res) return;
      const next = new Map(known.value);
      for (const a of res.actions.nodes)
        next.set(a.id, {
          id: a.id,
          name: a.name,
          kind: a.kind,
          appId: a.app.id,
          appName: a.app.name,
          appAuthKind: a.app.authKind,
          inputSchema: a.inputSchema,
          outputSchema: a.outputSchema,
        });
      known.value = next;
    },
    { immediate: true },
  );
  watch(
    workflowIds,
    async (ids) => {
      const missing = [...new Set(ids)]
        .filter((id): id is string => !!id && !workflowNames.value.has(id))
        .slice(0, 100);
      if (missing.length === 0) return;
      const res = await request(WorkflowNamesQuery, { ids: missing }).catch(() => null);
      if (!res) return;
      const next = new Map(workflowNames.value);
      for (const w of res.workflows.nodes) next.set(w.id, w.name);
      workflowNames.value = next;
    },
    { immediate: true },
  );
  return { known, workflowNames, connections, actions };
}
