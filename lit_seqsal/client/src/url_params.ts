/** LIT's URL parameters that our app honours (as LIT's notebook widget writes them). */

import type {ExampleData} from './api.js';

export interface UrlConfig {
  models?: string[];
  dataset?: string;
  layout?: string;
  /** Examples from data0_prompt, data0_target, data1_prompt, ... in index order. */
  data: ExampleData[];
}

export function parseUrlParams(search: string): UrlConfig {
  const params = new URLSearchParams(search);
  const config: UrlConfig = {data: []};
  const byIndex = new Map<number, Record<string, string>>();
  for (const [key, value] of params) {
    const data = key.match(/^data(\d+)_(.+)$/);
    if (data) {
      const index = Number(data[1]);
      if (!byIndex.has(index)) byIndex.set(index, {});
      byIndex.get(index)![data[2]] = value;
    } else if (key === 'models') {
      config.models = value.split(',').filter(Boolean);
    } else if (key === 'dataset') {
      config.dataset = value;
    } else if (key === 'layout') {
      config.layout = value;
    }
  }
  for (const index of [...byIndex.keys()].sort((a, b) => a - b)) {
    const fields = byIndex.get(index)!;
    config.data.push({...fields, prompt: fields['prompt'] ?? ''});
  }
  return config;
}
