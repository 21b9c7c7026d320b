"""The comment-tone classifier: TF-IDF of word 1-2-grams and character 2-5-grams, and a
class-balanced logistic regression (fitted by averaged SGD: a few passes suffice).

`ToneModel(texts)` counts the n-grams of every distinct training text once; each fit then
weighs them as a vectoriser fitted on its training rows alone would (n-grams in fewer than
MIN_DF of them dropped, IDF from them), so held-out rows are scored honestly and many fits
stay cheap. N-grams are counted with polars (words, word pairs, and the character n-grams
of each distinct whitespace-separated word, summed: they never cross a word boundary), as
scikit-learn's CountVectorizer and char_wb analyzer count them; `predict_proba` counts and
scores each distinct text once. scikit-learn is imported only when training.
"""

from __future__ import annotations

import os

import numpy as np
import polars as pl

CLASSES = ("negative", "neutral", "positive")  # sorted: the order of every probability column
MIN_DF = 2  # an n-gram counts once at least this many training comments hold it
ALPHA = 5e-5  # L2 strength of the logistic regression, fitted by averaged SGD in about UPDATES
UPDATES, EPOCHS = 100_000, (5, 30)  # steps: 5 passes over 20,000 comments, up to 30 over fewer
WORD_NGRAMS, CHAR_NGRAMS = (1, 2), (2, 5)
SCORE_CHUNK = 100_000  # distinct texts counted and scored at a time
FEATURES = f"TF-IDF of word 1-2-grams and character 2-5-grams (in at least {MIN_DF} comments)"
CLASSIFIER = f"logistic regression (L2 {ALPHA:g}, fitted by SGD), balanced class weights"
_WORD = r"\w+"
_TOKEN = r"[^\s\x1c-\x1f]+"  # what str.split() splits on: Unicode whitespace and \x1c-\x1f


class Ngrams:
    """Counts of word 1-2-grams and of character 2-5-grams inside each whitespace-separated
    word (padded with a space, as scikit-learn's char_wb analyzer does), counted with polars.
    `fit_transform` learns the vocabulary (n-grams in order of first appearance; columns: the
    `words` word n-grams, then characters), `counts` counts known n-grams only."""

    def __init__(self):
        self.word_grams = pl.Series("gram", [], dtype=pl.String)  # column j: the j-th n-gram
        self.char_grams = pl.Series("gram", [], dtype=pl.String)

    @property
    def words(self) -> int:
        return len(self.word_grams)

    def fit_transform(self, texts) -> object:
        from scipy import sparse

        return sparse.hstack(self._count(texts, grow=True), format="csr")

    def counts(self, texts) -> tuple:
        """The counts of known word n-grams and of known character n-grams, apart."""
        return self._count(texts, grow=False)

    def _count(self, texts, grow: bool) -> tuple:
        from scipy import sparse

        lower = pl.DataFrame({"text": pl.Series(texts, dtype=pl.String).str.to_lowercase()}).with_row_index("row")
        found = lower.select("row", pl.col("text").str.extract_all(_WORD).alias("gram")).explode("gram") \
            .drop_nulls("gram").with_row_index("at")
        follows = pl.col("row") == pl.col("row").shift(-1)
        pairs = found.select("row", "at", pl.when(follows).then(pl.col("gram") + " " + pl.col("gram").shift(-1))
                             .alias("gram")).drop_nulls("gram")
        grams = pl.concat([found.select("row", "at", "gram", pl.lit(0, pl.UInt8).alias("pair")),
                           pairs.with_columns(pl.lit(1, pl.UInt8).alias("pair"))])
        tokens = lower.select("row", pl.col("text").str.extract_all(_TOKEN).alias("token")).explode("token") \
            .drop_nulls("token")
        distinct = tokens.select(pl.col("token").unique(maintain_order=True)).with_row_index("k")
        low, high = CHAR_NGRAMS
        padded = distinct.select("k", (" " + pl.col("token") + " ").alias("padded"),
                                 (pl.col("token").str.len_chars().cast(pl.Int64) + 2).alias("length"))
        pieces = pl.concat([  # each distinct word's character n-grams, counted once
            padded.select("k", pl.lit(n, pl.UInt8).alias("n"), "padded",
                          pl.int_ranges(0, pl.col("length") - n + 1, dtype=pl.UInt32).alias("start"))
            .explode("start").drop_nulls("start")
            .select("k", "n", "start", pl.col("padded").str.slice(pl.col("start"), n).alias("gram"))
            for n in range(low, high + 1)])
        if grow:  # first appearance: a text's words, then its word pairs; a word's n-grams by size, then start
            self.word_grams = _grow(self.word_grams, grams.sort("row", "pair", "at")["gram"])
            self.char_grams = _grow(self.char_grams, pieces.sort("k", "n", "start")["gram"])
        words, chars = _columns(grams, self.word_grams), _columns(pieces, self.char_grams)
        tokens = tokens.join(distinct, on="token")

        def matrix(rows, cols, shape):  # repeated (row, column) pairs add up
            return sparse.csr_matrix((np.ones(len(rows)), (rows.to_numpy(), cols.to_numpy())), shape=shape)

        n = lower.height
        per_word = matrix(chars["k"], chars["column"], (distinct.height, len(self.char_grams)))
        chars = matrix(tokens["row"], tokens["k"], (n, distinct.height)) @ per_word
        return matrix(words["row"], words["column"], (n, self.words)), chars


def _grow(vocabulary: pl.Series, seen: pl.Series) -> pl.Series:
    """The vocabulary, then the n-grams of `seen` it lacks, in order of first appearance."""
    new = seen.unique(maintain_order=True)
    return pl.concat([vocabulary, new.filter(~new.is_in(vocabulary.implode()))])


def _columns(grams: pl.DataFrame, vocabulary: pl.Series) -> pl.DataFrame:
    """The rows of `grams` whose n-gram is in the vocabulary, with its column."""
    return grams.join(vocabulary.to_frame("gram").with_row_index("column"), on="gram")


class ToneModel:
    """The tone model over a set of comments: word and character n-gram counts of each distinct
    text (made once), TF-IDF weights learnt on training rows only, and a class-balanced
    logistic regression. `fit_predict` scores held-out rows; after `fit`, `predict_proba(texts)`
    scores new text."""

    def __init__(self, texts: list[str]):
        self.classes = CLASSES
        self.ngrams = Ngrams()
        unique, self._text = np.unique(np.array(texts, dtype=object), return_inverse=True)
        self._tf = _sublinear(self.ngrams.fit_transform(unique))
        self.idf: np.ndarray | None = None
        self.classifier = None

    def fit_predict(self, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        """Probabilities for the `test` rows from a model fitted on the `train` rows alone (as a
        vectoriser fitted on those rows would weigh them: rare n-grams dropped, IDF from them)."""
        _, classifier, weighted = self._fit(labels, train)
        return _probabilities(classifier, weighted[self._text[test]])

    def fit(self, labels: np.ndarray) -> ToneModel:
        """Fit on every comment (the model saved for the run)."""
        self.idf, self.classifier, _ = self._fit(labels, np.ones(len(labels), dtype=bool))
        return self

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities of negative / neutral / positive (columns in CLASSES order) of each
        text (a list or a polars Series; each distinct text counted and scored once)."""
        texts = pl.DataFrame({"text": pl.Series(texts, dtype=pl.String)})
        distinct = texts.unique("text", maintain_order=True).with_row_index("k")
        parts = distinct.select("text").iter_slices(SCORE_CHUNK)  # a chunk at a time: bounded memory
        scores = np.concatenate([np.zeros((0, len(CLASSES)))] + [self._score(part["text"]) for part in parts])
        return scores[texts.join(distinct, on="text", how="left", maintain_order="left")["k"].to_numpy()]

    def _score(self, texts: pl.Series) -> np.ndarray:
        """What `_probabilities` of their TF-IDF rows gives, without making them: each part's
        weighted counts dotted with its coefficients and divided by the part's norm."""
        from scipy.special import expit

        c, split = self.classifier, self.ngrams.words
        decision = c.intercept_ + sum(_weighted_dot(part, self.idf[columns], c.coef_[:, columns])
                                      for part, columns in zip(self.ngrams.counts(texts),
                                                               (slice(0, split), slice(split, None))))
        p = expit(decision)  # one-vs-rest, normalised as scikit-learn's predict_proba does
        return _in_class_order(c, np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1
                               else p / p.sum(axis=1, keepdims=True))

    def _fit(self, labels: np.ndarray, train: np.ndarray):
        rows = self._text[train]
        idf = _idf(self._tf, np.bincount(rows, minlength=self._tf.shape[0]))
        weighted = _tfidf(self._tf, idf, self.ngrams.words)  # each distinct text weighed once, then repeated
        return idf, _classifier(len(rows)).fit(weighted[rows], labels[train]), weighted

    def __getstate__(self) -> dict:  # the training comments' counts stay out of the saved model
        return {k: v for k, v in self.__dict__.items() if k not in ("_tf", "_text")}


def _classifier(rows: int):
    from sklearn.linear_model import SGDClassifier

    epochs = max(EPOCHS[0], min(EPOCHS[1], UPDATES // max(rows, 1)))
    jobs = min(len(CLASSES), os.cpu_count() or 1)  # the one-vs-rest fits side by side: the same result
    return SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=epochs, tol=None, average=True,
                         class_weight="balanced", random_state=0, n_jobs=jobs)


def _sublinear(counts):
    counts.data = 1 + np.log(counts.data)  # sublinear term frequency
    return counts


def _idf(tf, copies: np.ndarray) -> np.ndarray:
    """Smoothed IDF (as TfidfVectorizer computes it) over training comments holding `copies` of
    each distinct text, for the n-grams in at least MIN_DF of them; 0 for the others, which
    the model then never sees."""
    df = np.bincount(tf.indices, weights=np.repeat(copies, np.diff(tf.indptr)), minlength=tf.shape[1])
    return np.where(df >= MIN_DF, np.log((1 + copies.sum()) / (1 + df)) + 1, 0.0)


def _tfidf(tf, idf: np.ndarray, words: int):
    """TF x IDF with n-grams below MIN_DF dropped, the word and the character part of each row
    L2-normalised apart (as two TfidfVectorizers side by side)."""
    x = tf.copy()
    x.data *= idf[x.indices]
    x.eliminate_zeros()
    part = 2 * np.repeat(np.arange(x.shape[0]), np.diff(x.indptr)) + (x.indices >= words)  # (row, chars?)
    x.data /= np.sqrt(np.bincount(part, x.data ** 2, 2 * x.shape[0]))[part]
    return x


def _weighted_dot(counts, idf: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Per row and class: the row's sublinear TF x IDF, L2-normalised, dotted with `coef`."""
    from scipy import sparse

    weighted = np.log(counts.data)
    weighted += 1
    weighted *= idf[counts.indices]
    x = sparse.csr_matrix((weighted, counts.indices, counts.indptr), shape=counts.shape)
    norm = np.sqrt(x.multiply(x).sum(axis=1).A1)
    return (x @ coef.T) / np.where(norm > 0, norm, 1)[:, None]


def _probabilities(classifier, x) -> np.ndarray:
    return _in_class_order(classifier, classifier.predict_proba(x))


def _in_class_order(classifier, p: np.ndarray) -> np.ndarray:
    """Probabilities in CLASSES order (0 for a class the training rows did not hold)."""
    out = np.zeros((len(p), len(CLASSES)))
    out[:, [CLASSES.index(c) for c in classifier.classes_]] = p
    return out


