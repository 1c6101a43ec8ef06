// Password strength while typing (register, change password, recovery):
// zxcvbn-ts with its common and English dictionaries. Loaded on first use
// (the dictionaries are large), never on the first screen. The server
// checks again; this is only a guide.
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

const zxcvbn = new ZxcvbnFactory({
  dictionary: { ...common.dictionary, ...en.dictionary },
  graphs: common.adjacencyGraphs,
  translations: en.translations,
});

const LABELS = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'];

// -> {score 0..4, label, hint}
export function strength(password, userInputs = []) {
  const r = zxcvbn.check(String(password || '').slice(0, 256), userInputs.filter(Boolean));
  const hint = [r.feedback.warning, ...(r.feedback.suggestions || [])].filter(Boolean).join(' ');
  return { score: r.score, label: LABELS[r.score], hint };
}
