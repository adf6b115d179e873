/** LIT's HTTP API, as our client uses it (see lit_nlp/app.py on the server). */

/** A LIT spec field, as /get_info serialises it. */
export interface SpecField {
  __name__: string;
  [key: string]: unknown;
}
export type Spec = Record<string, SpecField>;

export interface ModelInfo {
  spec: {input: Spec, output: Spec};
  datasets: string[];
  description?: string;
}

/** A LIT layout: tab name -> module names, per page area. */
export interface LayoutInfo {
  left?: Record<string, string[]>;
  upper?: Record<string, string[]>;
  lower?: Record<string, string[]>;
  description?: string;
}

export interface ServerInfo {
  models: Record<string, ModelInfo>;
  datasets: Record<string, {size?: number, spec?: Spec}>;
  layouts: Record<string, LayoutInfo>;
  defaultLayout?: string;
  demoMode?: boolean;
  pageTitle?: string;
}

/** One example: its fields (prompt, target, source, ...). */
export interface ExampleData {
  prompt: string;
  target?: string;
  source?: string;
  [key: string]: unknown;
}

export interface Example {
  id: string;
  data: ExampleData;
  meta: {added?: boolean, source?: string};
}

/** An error from the server, with its first line as the message. */
export class ServerError extends Error {
  constructor(message: string, readonly status: number, readonly details: string) {
    super(message);
  }
}

/** LIT answers errors with "Uncaught error: MESSAGE\n\nDetails: TRACEBACK". */
export function serverErrorMessage(body: string): string {
  const match = body.match(/Uncaught error: ([\s\S]*?)(?:\n\nDetails:|$)/);
  const text = (match ? match[1] : body).trim();
  return text || 'The server returned an error without a message.';
}

export type Fetch = (url: string, init: {method: string, body: string}) =>
    Promise<{ok: boolean, status: number, text(): Promise<string>}>;

export class LitApi {
  constructor(private readonly base = './', private readonly fetcher: Fetch = (u, i) => fetch(u, i)) {}

  private async call<T>(path: string, params: Record<string, string>, body: unknown): Promise<T> {
    const query = new URLSearchParams(params).toString();
    const url = `${this.base}${path}${query ? '?' + query : ''}`;
    let response;
    try {
      response = await this.fetcher(url, {method: 'POST', body: JSON.stringify(body ?? {})});
    } catch (e) {
      throw new ServerError(`Cannot reach the server (${(e as Error).message}).`, 0, '');
    }
    const text = await response.text();
    if (!response.ok) throw new ServerError(serverErrorMessage(text), response.status, text);
    return JSON.parse(text) as T;
  }

  getInfo(): Promise<ServerInfo> {
    return this.call('get_info', {}, {});
  }

  getDataset(name: string): Promise<Example[]> {
    return this.call('get_dataset', {dataset_name: name}, {});
  }

  /** Predictions of `model` on examples sent in full (no server-side lookup). */
  getPreds<T = Record<string, unknown>>(model: string, inputs: object[], fields?: string[]): Promise<T[]> {
    const params: Record<string, string> = {model};
    if (fields?.length) params['requested_fields'] = fields.join(',');
    const body = {inputs: inputs.map((data, i) => ({id: `q${i}`, data, meta: {}}))};
    return this.call('get_preds', params, body);
  }
}

/** The salience model of a group: _NAME_salience, as the server names it (contract.py). */
export function salienceModelName(group: string): string {
  return `_${group}_salience`;
}

/** The tokenizer model of a group (_NAME_tokenizer). */
export function tokenizerModelName(group: string): string {
  return `_${group}_tokenizer`;
}

/** Models that form a salience group: NAME with a _NAME_salience sibling. */
export function salienceGroups(info: ServerInfo): string[] {
  return Object.keys(info.models).filter(
      (name) => !name.startsWith('_') && salienceModelName(name) in info.models);
}

/** The TokenScores fields of a salience model: the methods it offers. */
export function salienceMethods(info: ServerInfo, group: string): string[] {
  const spec = info.models[salienceModelName(group)]?.spec.output ?? {};
  return Object.keys(spec).filter((k) => spec[k].__name__ === 'TokenScores');
}

/**
 * Methods the salience model computes only when asked (its TokenScores fields
 * that are not `required`: integrated gradients, occlusion): each costs many
 * model passes, so they are fetched for the selection alone, when picked.
 */
export function onRequestMethods(info: ServerInfo, group: string): string[] {
  const spec = info.models[salienceModelName(group)]?.spec.output ?? {};
  return salienceMethods(info, group).filter((k) => spec[k].required === false);
}
