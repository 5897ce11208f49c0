/**
 * A small SentencePiece-style ("llama" tokenizer model) vocabulary built from a fixed word list,
 * so the stand-in model needs no download. llama.cpp's SPM tokenizer merges adjacent pieces only
 * when the merged text is itself a token, so every word comes with all its `▁`-prefixes; text
 * outside the vocabulary falls back to single characters, then to `<0xNN>` byte tokens.
 */

/** Common English words: what the stand-in model emits, in meaningless order. */
const WORDS = `the of and to in is it that was for on are as with his they at be this from have or
by one had not but what all were when we there can an your which their said if do will each about
how up out them then she many some so these would other into has more her two like him see time
could no make than first been its who now people my made over did down only way find use may water
long little very after words called just where most know get through back much before go good new
write our used me man too any day same right look think also around another came come work three
word must because does part even place well such here take why things help put years different away
again off went old number great tell men say small every found still between name should home big
give air line set own under read last never us left end along while might next sound below saw
something thought both few those always looked show large often together asked house world going want
school important until form food keep children feet land side without boy once animals life enough took
sometimes four head above kind began almost live page got earth need far hand high year mother light
parts country father let night following picture being study second eyes soon times story boys since
white days ever paper hard near sentence better best across during today others however sure means knew
try told young miles sun ways thing whole hear example heard several change answer room sea against top
turned learn point city play toward five using himself usually money seen car morning given river
stone cloud tree green bright quiet open road window garden letter music table yellow silver winter
summer spring valley forest north south east west bridge signal engine model token stream batch gateway
queue canary weight random noise`
  .split(/\s+/)
  .filter((word) => word.length > 0);

const PUNCTUATION = '.,;:!?\'"()[]{}-_/\\*&%$#@+=<>|~`^';
/** Punctuation the model may emit; the rest only tokenizes input. */
const SENTENCE_MARKS = '.,;:!?';
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** llama.cpp token types (`llama_token_type`). */
export const TokenType = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

export interface Vocabulary {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  /** Whole `▁word` tokens and sentence marks: the only tokens the stand-in model is wired to emit. */
  emittable: boolean[];
  unknownId: number;
  bosId: number;
  eosId: number;
}

/** Builds the vocabulary; the same list always gives the same ids. */
export function buildVocabulary(): Vocabulary {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const emittable: boolean[] = [];
  const seen = new Set<string>();
  const add = (text: string, type: number, score: number, emit = false) => {
    if (seen.has(text)) {
      if (emit) emittable[tokens.indexOf(text)] = true;
      return;
    }
    seen.add(text);
    tokens.push(text);
    scores.push(score);
    types.push(type);
    emittable.push(emit);
  };

  add('<unk>', TokenType.unknown, 0);
  add('<s>', TokenType.control, 0);
  add('</s>', TokenType.control, 0);
  for (let byte = 0; byte < 256; byte++) {
    add(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`, TokenType.byte, 0);
  }
  add('▁', TokenType.normal, -1);
  for (const char of LETTERS) add(char, TokenType.normal, -1);
  for (const char of PUNCTUATION) add(char, TokenType.normal, -1, SENTENCE_MARKS.includes(char));
  // Longer pieces score higher, so merges run to the whole word.
  for (const word of WORDS) {
    const piece = `▁${word}`;
    for (let end = 2; end <= piece.length; end++) {
      add(piece.slice(0, end), TokenType.normal, end, end === piece.length);
    }
  }
  return {
    tokens,
    scores: Float32Array.from(scores),
    types: Int32Array.from(types),
    emittable,
    unknownId: 0,
    bosId: 1,
    eosId: 2,
  };
}
