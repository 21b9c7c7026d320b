"""The comment-tone classifier: TF-IDF of word 1-2-grams and character 2-5-grams, and a
class-balanced logistic regression (fitted by averaged SGD: a few passes suffice).

`ToneModel(texts)` counts the n-grams of every distinct text once; each fit then weighs them
as a vectoriser fitted on its training rows alone would (n-grams in fewer than MIN_DF of them
dropped, IDF from them), so held-out rows are scored honestly and many fits stay cheap.
Character n-grams are counted per distinct word and summed (they never cross a word
boundary), which is what makes counting fast. scikit-learn is imported only when training.
"""

from __future__ import annotations

import re

import numpy as np

CLASSES = ("negative", "neutral", "positive")  # sorted: the order of every probability column
MIN_DF = 2  # an n-gram counts once at least this many training comments hold it
ALPHA = 5e-5  # L2 strength of the logistic regression, fitted by averaged SGD in about UPDATES
UPDATES, EPOCHS = 100_000, (5, 30)  # steps: 5 passes over 20,000 comments, up to 30 over fewer
WORD_NGRAMS, CHAR_NGRAMS = (1, 2), (2, 5)
FEATURES = f"TF-IDF of word 1-2-grams and character 2-5-grams (in at least {MIN_DF} comments)"
CLASSIFIER = f"logistic regression (L2 {ALPHA:g}, fitted by SGD), balanced class weights"
_WORD = re.compile(r"\w+")


class Ngrams:
    """Counts of word 1-2-grams and of character 2-5-grams inside each word (padded with a
    space, as scikit-learn's char_wb analyzer does). `fit_transform` learns the vocabulary,
    `transform` counts known n-grams only. Columns: the `words` word n-grams, then characters."""

    def __init__(self):
        self.word_vocabulary: dict[str, int] = {}
        self.char_vocabulary: dict[str, int] = {}

    @property
    def words(self) -> int:
        return len(self.word_vocabulary)

    def fit_transform(self, texts) -> object:
        return self._count(texts, grow=True)

    def transform(self, texts) -> object:
        return self._count(texts, grow=False)

    def _count(self, texts, grow: bool):
        from scipy import sparse

        def ids(grams, vocabulary: dict[str, int]) -> list[int]:
            if grow:
                return [vocabulary.setdefault(g, len(vocabulary)) for g in grams]
            return [j for g in grams if (j := vocabulary.get(g)) is not None]

        word_rows, word_cols, token_rows, token_cols = [], [], [], []
        tokens: dict[str, int] = {}
        for i, text in enumerate(texts):
            lower = text.lower()
            found = _WORD.findall(lower)
            columns = ids(found + [f"{a} {b}" for a, b in zip(found, found[1:])], self.word_vocabulary)
            word_rows += [i] * len(columns)
            word_cols += columns
            for token in lower.split():
                token_rows.append(i)
                token_cols.append(tokens.setdefault(token, len(tokens)))
        piece_rows, piece_cols = [], []  # each distinct word's character n-grams, counted once
        low, high = CHAR_NGRAMS
        for token, k in tokens.items():
            padded = f" {token} "
            columns = ids([padded[s:s + n] for n in range(low, high + 1) for s in range(len(padded) - n + 1)],
                          self.char_vocabulary)
            piece_rows += [k] * len(columns)
            piece_cols += columns

        def matrix(rows, cols, shape):  # repeated (row, column) pairs add up
            return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)

        n = len(texts)
        per_word = matrix(piece_rows, piece_cols, (len(tokens), len(self.char_vocabulary)))
        chars = matrix(token_rows, token_cols, (n, len(tokens))) @ per_word
        return sparse.hstack([matrix(word_rows, word_cols, (n, self.words)), chars], format="csr")


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
        idf, classifier = self._fit(labels, train)
        wanted, back = np.unique(self._text[test], return_inverse=True)
        return _probabilities(classifier, _tfidf(self._tf[wanted], idf, self.ngrams.words))[back]

    def fit(self, labels: np.ndarray) -> ToneModel:
        """Fit on every comment (the model saved for the run)."""
        self.idf, self.classifier = self._fit(labels, np.ones(len(labels), dtype=bool))
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities of negative / neutral / positive (columns in CLASSES order)."""
        tf = _sublinear(self.ngrams.transform(texts))
        return _probabilities(self.classifier, _tfidf(tf, self.idf, self.ngrams.words))

    def _fit(self, labels: np.ndarray, train: np.ndarray):
        rows = self._text[train]
        idf = _idf(self._tf, np.bincount(rows, minlength=self._tf.shape[0]))
        x = _tfidf(self._tf, idf, self.ngrams.words)[rows]  # weigh each distinct text once, then repeat it
        return idf, _classifier(len(rows)).fit(x, labels[train])

    def __getstate__(self) -> dict:  # the training comments' counts stay out of the saved model
        return {k: v for k, v in self.__dict__.items() if k not in ("_tf", "_text")}


def _classifier(rows: int):
    from sklearn.linear_model import SGDClassifier

    epochs = max(EPOCHS[0], min(EPOCHS[1], UPDATES // max(rows, 1)))
    return SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=epochs, tol=None, average=True,
                         class_weight="balanced", random_state=0)


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
    squares = x.data ** 2
    is_word = x.indices < words
    row = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    norms = np.sqrt(np.stack([np.bincount(row, squares * is_word, x.shape[0]),
                              np.bincount(row, squares * ~is_word, x.shape[0])]))
    x.data /= np.where(is_word, norms[0][row], norms[1][row])
    return x


def _probabilities(classifier, x) -> np.ndarray:
    """Probabilities in CLASSES order (0 for a class the training rows did not hold)."""
    out = np.zeros((x.shape[0], len(CLASSES)))
    out[:, [CLASSES.index(c) for c in classifier.classes_]] = classifier.predict_proba(x)
    return out


