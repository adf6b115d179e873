/**
 * The methods as our server describes them (GET /seqsal/info: `methods`,
 * `default_method` and `default_method_by_granularity`, from
 * lit_seqsal/salience/methods.py describe_all()), for the client's unit tests.
 */

import type {MethodInfo} from '../src/methods.js';

export const SERVER_METHODS: MethodInfo[] = [
  {
    name: 'grad_l2',
    label: 'Gradient norm',
    description: 'How strongly the selected span\'s probability reacts to each part: darker = more sensitive (no direction).',
    signed: false,
    on_request: false,
    contrastive: true,
    shares_spans: false,
    measures: 'size of the gradient at each token (unsigned)',
    cost: '1 forward + 1 backward, shared by all spans of an output',
    settings: [],
    work_note: null,
  },
  {
    name: 'grad_dot_input',
    label: 'Gradient × input',
    description: 'A first-order estimate of each part\'s push toward (+) or away from (−) the selected span.',
    signed: true,
    on_request: false,
    contrastive: true,
    shares_spans: false,
    measures: 'gradient · embedding: first-order effect of the token (signed)',
    cost: 'as above',
    settings: [],
    work_note: null,
  },
  {
    name: 'integrated_gradients',
    label: 'Integrated gradients',
    description: 'Each part\'s share of the change in the span\'s log-probability from a faded-out prompt to the real one: + toward the span, − away; the shares add up to that change.',
    signed: true,
    on_request: true,
    contrastive: true,
    shares_spans: false,
    measures: 'the gradient integrated from a baseline to the input, · (input − baseline); signed; sums to the log-likelihood change',
    cost: '`ig_steps` forward + backward passes, batched',
    settings: [{name: 'ig_steps', default: 64, help: 'Gauss-Legendre integration points', follows: null, low: 1, high: 512}],
    work_note: 'the model runs forward and backward at each integration step',
  },
  {
    name: 'occlusion',
    label: 'Occlusion (deletion)',
    description: 'How much the span\'s log-probability drops when the part is deleted: + it helped the span, − it worked against it.',
    signed: true,
    on_request: true,
    contrastive: true,
    shares_spans: true,
    measures: 'log-likelihood of the target minus that with the segment deleted; signed',
    cost:
      'one forward pass per segment of the input, shared by all spans of an output'
      + ' (each runs only the tokens after its segment), batched',
    settings: [{name: 'occlusion_granularity', default: 'sentences', help: 'the units deleted one at a time', follows: 'granularity', choices: ['tokens', 'words', 'sentences', 'lines', 'paragraphs']}],
    work_note: 'the model runs once without each of the {units} {granularity} before the selection',
  },
];

export const SERVER_DEFAULT_METHOD = 'grad_l2';

/** The method shown first at each granularity (`default_method_by_granularity`). */
export const SERVER_DEFAULT_BY_GRANULARITY: Record<string, string> = {
  tokens: 'grad_l2', words: 'grad_l2', sentences: 'grad_l2', lines: 'grad_l2', paragraphs: 'grad_l2',
};

export const SERVER_METHOD = (name: string): MethodInfo => SERVER_METHODS.find((m) => m.name === name)!;
