/**
 * LIT's HTTP API, as our client uses it (see lit_nlp/app.py on the server),
 * and our server's jobs (/seqsal/jobs) and info (/seqsal/info).
 */

import {ServerError, parseServerError} from './errors.js';
import type {HeaderSource} from './errors.js';
import type {CheckInfo} from './check_view.js';
import type {JobStatus} from './jobs.js';
import type {MethodInfo} from './methods.js';

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
  /**
   * Examples made in this session: `added`; `typed` in the editor, or
   * `editedFrom` another example (its id: the way back to it).
   */
  meta: {added?: boolean, source?: string, typed?: boolean, editedFrom?: string};
}

export {CancelledError, ServerError, errorMessage, parseServerError, serverErrorMessage} from './errors.js';

/** Our server's own endpoints besides LIT's (GET /seqsal/info): what it offers and its budgets. */
export interface SeqsalInfo {
  hosted: boolean;
  /** Whether long work runs as jobs (/seqsal/jobs) with progress and cancel. */
  jobs: boolean;
  /** The server's budgets; 0 or absent: no limit. */
  limits: {max_masks_per_request?: number, request_time_limit_s?: number, [name: string]: unknown};
  /** Every salience method the server has, described (see methods.ts); absent from older servers. */
  methods?: MethodInfo[];
  /** Each model group's lengths and generation limits; absent from older servers. */
  models?: Record<string, GroupInfo>;
  /** The method a client shows first. */
  default_method?: string;
  /** The method a client shows first at each granularity the server segments by. */
  default_method_by_granularity?: Record<string, string>;
  /** The deletion check of an explanation (the salience model's `check` field); absent from older servers. */
  check?: CheckInfo;
}

/** A model group as GET /seqsal/info describes it (ModelGroup.describe on the server). */
export interface GroupInfo {
  /** The longest prompt + target (or generation) in tokens: --sequence_length. */
  max_length: number;
  /** 'auto': chosen from the model's context window and the memory; 'set' by the flag. */
  length?: string;
  /** Positions the model was trained for, where its configuration says. */
  context_window?: number | null;
  /** The most tokens a generation may have (--max_new_tokens). */
  max_new_tokens: number;
  /** Stop sequences every generation ends at (--stop_sequences). */
  stop_sequences?: string[];
  chat_template?: boolean;
}

/** What a fetch answers, as far as the client reads it (headers optional for tests). */
export interface FetchResponse {
  ok: boolean;
  status: number;
  text(): Promise<string>;
  headers?: HeaderSource;
}

export type Fetch = (url: string, init: {method: string, body?: string}) => Promise<FetchResponse>;

/** Options of a job (POST /seqsal/jobs): an interpreter instead of predictions, and LIT's parameters. */
export interface JobOptions {
  fields?: string[];
  interpreter?: string;
  datasetName?: string;
}

export class LitApi {
  constructor(private readonly base = './', private readonly fetcher: Fetch = (u, i) => fetch(u, i)) {}

  private async request<T>(method: 'GET' | 'POST', path: string, params: Record<string, string>, body?: unknown): Promise<T> {
    const query = new URLSearchParams(params).toString();
    const url = `${this.base}${path}${query ? '?' + query : ''}`;
    let response;
    try {
      response = await this.fetcher(url, method === 'GET' ? {method} : {method, body: JSON.stringify(body ?? {})});
    } catch (e) {
      throw new ServerError(`Cannot reach the server (${(e as Error).message}).`, 0, '');
    }
    const text = await response.text();
    if (!response.ok) throw parseServerError(response.status, text, response.headers);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ServerError(`The server's answer to ${path} is not JSON.`, response.status, text.slice(0, 2000),
                            {requestId: response.headers?.get('X-Request-Id') ?? undefined});
    }
  }

  private call<T>(path: string, params: Record<string, string>, body: unknown): Promise<T> {
    return this.request('POST', path, params, body);
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
    return this.call('get_preds', params, predsBody(inputs));
  }

  /**
   * What our server offers besides LIT's API (GET seqsal/info); undefined
   * from a server without it (a plain or older LIT server answers 404).
   */
  async getServerInfo(): Promise<SeqsalInfo | undefined> {
    try {
      return await this.request<SeqsalInfo>('GET', 'seqsal/info', {});
    } catch (e) {
      if (e instanceof ServerError && [404, 405, 501].includes(e.status)) return undefined;
      throw e;
    }
  }

  /** Starts predictions of `model` (or an interpreter's output) as a job; poll it with pollJob. */
  async startJob<T = unknown>(model: string, inputs: object[], options: JobOptions = {}): Promise<JobStatus<T>> {
    const params: Record<string, string> = {model};
    if (options.fields?.length) params['requested_fields'] = options.fields.join(',');
    if (options.interpreter) params['interpreter'] = options.interpreter;
    if (options.datasetName) params['dataset_name'] = options.datasetName;
    return (await this.call<{job: JobStatus<T>}>('seqsal/jobs', params, predsBody(inputs))).job;
  }

  /** A job's status; with its result once done. */
  async pollJob<T = unknown>(id: string): Promise<JobStatus<T>> {
    return (await this.request<{job: JobStatus<T>}>('GET', `seqsal/jobs/${encodeURIComponent(id)}`, {})).job;
  }

  /** Asks the server to stop a job at its next model batch. */
  async cancelJob<T = unknown>(id: string): Promise<JobStatus<T>> {
    return (await this.call<{job: JobStatus<T>}>(`seqsal/jobs/${encodeURIComponent(id)}/cancel`, {}, {})).job;
  }
}

/** LIT's body for /get_preds: examples sent in full, with ids of our own. */
function predsBody(inputs: object[]) {
  return {inputs: inputs.map((data, i) => ({id: `q${i}`, data, meta: {}}))};
}

/** Masks per /get_preds request: at most 32, and never more than the server allows. */
export function maskChunkSize(info: SeqsalInfo | undefined, preferred = 32): number {
  const limit = Number(info?.limits?.max_masks_per_request ?? 0);
  return limit > 0 ? Math.max(1, Math.min(preferred, Math.floor(limit))) : preferred;
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
 * Whether the salience model explains against a foil ("why this and not
 * that"): its input spec has the optional `foil` field.
 */
export function supportsFoil(info: ServerInfo, group: string): boolean {
  return 'foil' in (info.models[salienceModelName(group)]?.spec.input ?? {});
}

/** Input fields the client sets itself, never copied from an example. */
const OWN_INPUT_FIELDS = ['prompt', 'target', 'foil', 'target_mask', 'salience_methods', 'edits'];

/**
 * Whether the generation model regenerates from an edited prompt ("drop it
 * and regenerate"): its input spec has the optional `edits` field.
 */
export function supportsEdits(info: ServerInfo, group: string): boolean {
  return 'edits' in (info.models[group]?.spec.input ?? {});
}

/**
 * Example fields only the generation model reads (sent with a generation,
 * not with tokens or salience, so that they do not key those caches).
 */
export const GENERATION_FIELDS: readonly string[] = ['max_new_tokens'];

/**
 * Optional example fields our server reads from any input without declaring
 * them in the models' specs (contract.py: a conversation as `messages`, JSON
 * text of role/content pairs, for chat templates; `stop` sequences that end
 * the generation).
 */
export const EXAMPLE_FIELDS: readonly string[] = ['messages', 'stop'];

/**
 * The example fields a group's models take besides the prompt and target
 * (EXAMPLE_FIELDS, and any other input field the model's spec declares):
 * copied from the example into every input (see salience_data.PromptInput).
 */
export function exampleInputFields(info: ServerInfo, group: string): string[] {
  const declared = Object.keys(info.models[group]?.spec.input ?? {});
  return [...new Set([...EXAMPLE_FIELDS, ...declared])].filter((f) => !OWN_INPUT_FIELDS.includes(f));
}
