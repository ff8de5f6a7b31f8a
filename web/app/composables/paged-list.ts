/**
 * A list the server pages by cursor (`{ nodes endCursor hasNextPage }`, docs/api.md): the
 * first page, "Load more", and a search box that asks the server (debounced) rather than
 * filtering what happens to be loaded. An answer that arrives after a newer request started
 * is dropped, so a slow search never overwrites a faster, later one.
 */
export type Page<N> = { nodes: N[]; endCursor: string | null; hasNextPage: boolean };

export function usePagedList<N>(
  fetchPage: (after: string | null, search: string | null) => Promise<Page<N>>,
  opts: { debounceMs?: number } = {},
) {
  const items = ref<N[]>([]) as Ref<N[]>;
  const search = ref('');
  const loading = ref(false);
  /** True once the first page of the current search has arrived. */
  const loaded = ref(false);
  const error = ref<unknown>(null);
  const hasNextPage = ref(false);
  let endCursor: string | null = null;
  let seq = 0;

  async function load(after: string | null): Promise<void> {
    const mine = ++seq;
    loading.value = true;
    error.value = null;
    try {
      const term = search.value?.trim() || null;
      const page = await fetchPage(after, term);
      if (mine !== seq) return;
      items.value = after ? [...items.value, ...page.nodes] : page.nodes;
      endCursor = page.endCursor;
      hasNextPage.value = page.hasNextPage;
      loaded.value = true;
    } catch (err) {
      if (mine === seq) error.value = err;
    } finally {
      if (mine === seq) loading.value = false;
    }
  }

  const reload = () => load(null);
  const loadMore = () => (hasNextPage.value && !loading.value ? load(endCursor) : undefined);

  let timer: ReturnType<typeof setTimeout> | undefined;
  watch(search, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), opts.debounceMs ?? 250);
  });
  onBeforeUnmount(() => clearTimeout(timer));

  return { items, search, loading, loaded, error, hasNextPage, reload, loadMore };
}

/** Every page of a list, for the few views that need it whole (the editor's catalogue). */
export async function fetchAllPages<N>(
  fetchPage: (after: string | null) => Promise<Page<N>>,
): Promise<N[]> {
  const all: N[] = [];
  let after: string | null = null;
  for (;;) {
    const page: Page<N> = await fetchPage(after);
    all.push(...page.nodes);
    if (!page.hasNextPage) return all;
    after = page.endCursor;
  }
}
