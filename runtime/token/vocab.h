/* SPDX-License-Identifier: MIT */
/*
 * runtime/token/vocab.h — the tokenizer vocabulary stored in a GGUF file.
 *
 * `tokenizer.ggml.model = "llama"` (SentencePiece-style BPE with scores, byte
 * fallback) is tokenized exactly like llama.cpp's llm_tokenizer_spm (spm.c);
 * "gpt2" (GPT-2-style byte-level BPE: tokenizer.ggml.merges, required, and
 * tokenizer.ggml.pre, default "default") like llm_tokenizer_bpe (bpe.c).
 * Other models ("bert", ...) and unknown pre values give -ENOTSUP.  For gpt2
 * the defaults are llama.cpp's: bos = eos = 11, no unk, add_bos false (true
 * for llama-bpe), add_space_prefix false; add_space_prefix = true (which
 * llama.cpp ignores for BPE) puts a space before the text's start.  A gpt2
 * vocabulary reads the text as llama.cpp does: an invalid UTF-8 byte is
 * U+FFFD and an overlong form its shortest form, so for gpt2 the round trip
 * detokenize(tokenize(x)) == x holds for valid UTF-8 only.
 *
 * Keys read (all under tokenizer.ggml.):
 *   model            string, required ("llama")
 *   tokens           array of string, required, 1..INT32_MAX entries
 *   scores           array of f32, optional (0 for every token), same length
 *   token_type       array of i32, optional (normal), same length;
 *                    0 undefined, 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
 *   bos/eos/unknown/padding/eot/eom_token_id   u32; 0xFFFFFFFF (or a negative int) = none;
 *                    defaults bos 1, eos 2, unk 0, the others none (llama.cpp's SPM defaults);
 *                    without eot/eom ids, as llama.cpp, eot is the first token whose text is one
 *                    of <|eot_id|> <|im_end|> <|end|> <end_of_turn> <|endoftext|> <EOT> _<EOT>
 *                    <｜end▁of▁sentence｜>, and eom the token <|eom_id|>
 *   add_bos_token (default true), add_eos_token (default false),
 *   add_space_prefix (default true)
 *
 * A vocab does not point into the gguf_file: it can outlive it.  It is
 * immutable after load, so tokenizing from several threads at once is safe.
 */
#ifndef SLUICE_TOKEN_VOCAB_H
#define SLUICE_TOKEN_VOCAB_H

#include "gguf.h"
#include "internal.h"

enum sl_tok_type {
	SL_TOK_UNDEFINED = 0,
	SL_TOK_NORMAL = 1,
	SL_TOK_UNKNOWN = 2,
	SL_TOK_CONTROL = 3,
	SL_TOK_USER_DEFINED = 4,
	SL_TOK_UNUSED = 5,
	SL_TOK_BYTE = 6,
};

struct sl_vocab;

/*
 * Load the vocabulary of f.  -ENOENT when f has no tokenizer.ggml.model at all
 * (a model without a tokenizer), -ENOTSUP for a tokenizer model other than
 * "llama", -EINVAL for a malformed vocabulary (err names the key), -ENOMEM.
 */
int sl_vocab_load(const struct gguf_file *f, struct sl_vocab **out, struct sl_err *err);
void sl_vocab_free(struct sl_vocab *v);

uint32_t sl_vocab_size(const struct sl_vocab *v);
int32_t sl_vocab_bos(const struct sl_vocab *v); /* -1 if none */
int32_t sl_vocab_eos(const struct sl_vocab *v); /* -1 if none */
int32_t sl_vocab_unk(const struct sl_vocab *v); /* -1 if none */
bool sl_vocab_add_bos(const struct sl_vocab *v);          /* tokenizer.ggml.add_bos_token */
bool sl_vocab_add_eos(const struct sl_vocab *v);          /* tokenizer.ggml.add_eos_token */
bool sl_vocab_add_space_prefix(const struct sl_vocab *v); /* tokenizer.ggml.add_space_prefix */
/* End of generation: EOS, EOT or EOM. */
bool sl_vocab_is_eog(const struct sl_vocab *v, int32_t tok);
/* enum sl_tok_type of tok; SL_TOK_UNDEFINED when out of range. */
int sl_vocab_type(const struct sl_vocab *v, int32_t tok);
/* The stored text of tok ("▁the", "<0x0A>", "<s>") and its length; NULL when out of range. */
const char *sl_vocab_text(const struct sl_vocab *v, int32_t tok, size_t *len);
float sl_vocab_score(const struct sl_vocab *v, int32_t tok);
/* The id whose text is exactly s[0..len), or -1. */
int32_t sl_vocab_find(const struct sl_vocab *v, const char *s, size_t len);

/*
 * Tokenize text[0..len) (any bytes; invalid UTF-8 falls back to byte tokens),
 * prepending BOS when add_bos (and the vocab has one).  Callers that follow the
 * model's wish pass sl_vocab_add_bos(v).  The text itself gets llama.cpp's SPM
 * treatment: a dummy-prefix space (add_space_prefix), spaces as U+2581, merges
 * by score, byte fallback.  Empty text gives no tokens (just BOS), as llama.cpp.
 * Writes at most cap tokens; *n_out = tokens the text needs; -ENOSPC if more
 * than cap.  -EINVAL when a byte has no token (no <0xXX>, no unk) or text is
 * too long (len > 700 MB) or NULL with len > 0; -ENOMEM.
 */
int sl_tokenize(const struct sl_vocab *v, const char *text, size_t len, bool add_bos, int32_t *out,
		size_t cap, size_t *n_out);

#define SL_TOKENIZE_ADD_BOS       1u /* BOS first (if the vocab has one) */
#define SL_TOKENIZE_ADD_EOS       2u /* EOS last (if the vocab has one) */
#define SL_TOKENIZE_PARSE_SPECIAL 4u /* control/unknown token texts in the input ("<s>") become those tokens */
/*
 * The same with flags (llama.cpp's add_special = BOS if sl_vocab_add_bos, EOS
 * if sl_vocab_add_eos).  Without PARSE_SPECIAL only user-defined tokens are
 * matched in the text (llama.cpp's parse_special = false); with it control and
 * unknown tokens are too, longest first.  Text after such a token gets the
 * dummy-prefix space again, as in llama.cpp.  (llama.cpp's per-model
 * lstrip/rstrip attributes of special tokens are not applied.)
 */
int sl_tokenize_ex(const struct sl_vocab *v, const char *text, size_t len, unsigned flags, int32_t *out,
		   size_t cap, size_t *n_out);

/*
 * The bytes of one token: "▁" becomes a space, byte tokens give their byte,
 * user-defined tokens their text as stored; control (BOS, EOS), unknown,
 * unused and undefined tokens give nothing (llama.cpp with special = false).  -EINVAL if tok is out of
 * range; -ENOSPC (and *n_out = bytes needed) if cap is too small.
 */
int sl_token_to_piece(const struct sl_vocab *v, int32_t tok, char *buf, size_t cap, size_t *n_out);

/* As sl_token_to_piece; with lstrip a leading space of the piece is dropped. */
int sl_token_to_piece_ex(const struct sl_vocab *v, int32_t tok, bool lstrip, char *buf, size_t cap,
			 size_t *n_out);

/*
 * Detokenize a sequence: the concatenated pieces, with the dummy-prefix space
 * (when add_space_prefix) dropped from the first text token (normal,
 * user-defined or byte) — BOS or other control tokens in front do not stop
 * the strip, unlike llama.cpp's detokenize — making
 * sl_detokenize(sl_tokenize(x)) == x for every input, with two exceptions kept
 * for llama.cpp's token ids: a literal U+2581 (SentencePiece's space mark) is the
 * same token as an escaped space and comes back as ' '; and invalid UTF-8 whose
 * lead byte (0xC0..0xFF) claims a following space's bytes (llama.cpp splits by the
 * lead byte alone) brings that space back as the raw bytes of U+2581.  Same errors as
 * sl_token_to_piece; *n_out is the full length even on -ENOSPC.
 */
int sl_detokenize(const struct sl_vocab *v, const int32_t *toks, size_t n, char *buf, size_t cap,
		  size_t *n_out);

/*
 * Streaming helper for printing tokens one at a time, with sl_detokenize's
 * rule.  Start with *first_text = true; the first text token has its leading
 * space stripped (when add_space_prefix) and clears the flag.
 */
int sl_token_to_piece_stream(const struct sl_vocab *v, int32_t tok, bool *first_text, char *buf, size_t cap,
			     size_t *n_out);

/*
 * Streaming decoder that never prints half a UTF-8 character: a token's
 * piece (sl_token_to_piece_stream's, so BPE pieces are bytes through the
 * byte mapping) is appended to what earlier tokens left pending, and an
 * incomplete UTF-8 sequence at the end (a lead byte followed by fewer
 * continuation bytes than it announces) is held back for the next token.
 * Invalid bytes are not held: they print as they come.  push writes the
 * printable bytes to buf (*n_out of them); -ENOSPC (state unchanged, *n_out =
 * bytes needed) if cap is too small; -EINVAL for a token out of range.
 * flush writes what is still pending (at the end of the stream).
 */
struct sl_detok_stream {
	bool first_text;
	uint8_t n_pend;
	char pend[4];
};
void sl_detok_stream_init(struct sl_detok_stream *st);
int sl_detok_stream_push(const struct sl_vocab *v, struct sl_detok_stream *st, int32_t tok, char *buf, size_t cap,
			 size_t *n_out);
int sl_detok_stream_flush(struct sl_detok_stream *st, char *buf, size_t cap, size_t *n_out);

#endif
