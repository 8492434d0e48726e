"""Statistics of what each expert receives over a corpus run's Parquet rows, computed by DuckDB out of core (the
rows are streamed from the shards; memory stays bounded whatever the corpus size). Definitions: docs/corpus.md,
*Corpus-scale routing*. Every table carries its n; shares carry a Wilson 95% interval."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from core.atomic_folder import write_folder
from core.corpus.run import read_manifest
from core.corpus.shards_sql import connect, create_rows_view
from core.errors import DataError, InputError
from core.studies.word_pair import STOPWORDS
from core.tracing.words import TOKEN_PREFIXES

MIN_COUNT = 10  # occurrences a token needs before its vocabulary specialisation is reported
TOKEN_ROUTES_MIN = 3  # occurrences a token needs to be kept in the per-token routing table (the page's search)
TOP_TOKENS = 12
KWIC_WIDTH = 6  # words either side of the key word


def wilson(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportion k/n, vectorised."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def function_words() -> set[str]:
    """NLTK's English stopword list where its corpus is installed, else Routing Lens's built-in function words."""
    try:
        from nltk.corpus import stopwords

        return set(stopwords.words("english"))
    except LookupError:
        return set(STOPWORDS)


@dataclass
class ExpertStats:
    """The tables an Experts page and the `experts` command show (all pandas, all with n)."""

    load: pd.DataFrame
    entropy: pd.DataFrame
    domain: pd.DataFrame
    vocabulary: pd.DataFrame
    token_routes: pd.DataFrame
    coactivation: pd.DataFrame
    paths: pd.DataFrame
    top_tokens: pd.DataFrame
    classes: pd.DataFrame
    meta: pd.DataFrame  # model, experts, top_k, tokens, rows, domains

    NAMES = ("load", "entropy", "domain", "vocabulary", "token_routes", "coactivation", "paths", "top_tokens",
             "classes", "meta")

    def save(self, folder: Path) -> None:
        """All files at once through the same atomic folder writer as saved results (core.atomic_folder)."""

        def fill(tmp: Path) -> None:
            for name in self.NAMES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False, compression="zstd")

        try:
            write_folder(folder, fill)
        except OSError as err:
            raise DataError(f"Could not write the statistics to {Path(folder).name}/: {err.strerror or err}. Free "
                            "some disk space or choose another --out folder; nothing was left half-written.") from None

    def word_specialisation(self, word: str, stack: str, layer: int) -> pd.Series | None:
        """The vocabulary row of `word` at one layer (its most frequent token spelling, prefixes stripped as in the
        token_routes frame): occurrences, top expert, its share and Wilson CI; None when it is not counted."""
        vocab = self.vocabulary[(self.vocabulary["stack"] == stack) & (self.vocabulary.layer == layer)]
        hit = vocab[vocab.token.str.lower().str.lstrip(TOKEN_PREFIXES) == word.strip().lower()]
        return hit.sort_values("occurrences", ascending=False).iloc[0] if len(hit) else None

    @classmethod
    def load_from(cls, folder: Path) -> ExpertStats:
        missing = [n for n in cls.NAMES if not (folder / f"{n}.parquet").is_file()]
        if missing:
            raise DataError(f"{folder.name}/ is not a complete statistics folder (missing {', '.join(missing)}): run "
                            "`python -m core experts` on the corpus output.")
        return cls(**{n: pd.read_parquet(folder / f"{n}.parquet") for n in cls.NAMES})


def compute(run_dir: Path, num_experts: int, model: str = "", memory_gib: float = 1.0) -> ExpertStats:
    """All statistics over the shards of the corpus run in `run_dir`."""
    con = connect(memory_gib)
    create_rows_view(con, "rows", run_dir)
    stop = sorted(function_words())
    con.execute(f"""CREATE VIEW tok AS SELECT doc, domain::VARCHAR AS domain, position, token_id, token, word,
        stack::VARCHAR AS stack, layer, experts, entropy,
        experts[1] AS top1, len(experts) AS k,
        CASE WHEN regexp_matches(word, '^[^[:alnum:]]+$') THEN 'punctuation'
             WHEN regexp_matches(word, '[0-9]') THEN 'digits'
             WHEN lower(regexp_replace(word, '[^[:alnum:]'']', '', 'g')) IN ({", ".join("'" + w.replace("'", "''") + "'" for w in stop)}) THEN 'function word'
             WHEN regexp_matches(word, '^[A-Z]') THEN 'capitalised'
             WHEN word = '' THEN 'special'
             ELSE 'other' END AS class,
        lower(regexp_replace(token, '^[{TOKEN_PREFIXES}]+', '')) AS token_norm
        FROM rows""")
    e = num_experts
    totals = con.execute("SELECT stack, layer, count(*) AS tokens FROM tok GROUP BY ALL").df()
    load = con.execute("""SELECT stack, layer, expert, count(*) AS n FROM
        (SELECT stack, layer, unnest(experts) AS expert FROM tok) GROUP BY ALL""").df()
    load = load.merge(totals, on=["stack", "layer"])
    k = int(con.execute("SELECT max(k) FROM tok").fetchone()[0])
    load["share"] = load.n / load.tokens
    load["uniform"] = k / e
    load["ci_low"], load["ci_high"] = wilson(load.n, load.tokens)
    entropy = con.execute("SELECT stack, layer, avg(entropy) AS mean_token_entropy_bits, count(*) AS n FROM tok "
                          "GROUP BY ALL ORDER BY ALL").df()
    shares = load.assign(p=load.n / load.groupby(["stack", "layer"]).n.transform("sum"))
    load_h = shares.groupby(["stack", "layer"]).p.apply(lambda p: float(-(p * np.log2(p)).sum())).rename(
        "load_entropy_bits").reset_index()
    entropy = entropy.merge(load_h, on=["stack", "layer"])
    entropy["max_bits"] = np.log2(e)

    domain = con.execute("""WITH d AS (SELECT stack, layer, domain, count(*) AS domain_tokens FROM tok GROUP BY ALL)
        SELECT t.stack, t.layer, t.domain, t.expert, count(*) AS n, any_value(d.domain_tokens) AS domain_tokens
        FROM (SELECT stack, layer, domain, unnest(experts) AS expert FROM tok) t JOIN d USING (stack, layer, domain)
        GROUP BY ALL""").df()
    domain["share"] = domain.n / domain.domain_tokens
    domain["uniform"] = k / e
    domain["ci_low"], domain["ci_high"] = wilson(domain.n, domain.domain_tokens)

    vocabulary = con.execute(f"""WITH c AS (SELECT stack, layer, token_id, top1, count(*) AS n FROM tok GROUP BY ALL),
        t AS (SELECT stack, layer, token_id, sum(n) AS occurrences, max(n) AS top_n, arg_max(top1, n) AS top_expert
              FROM c GROUP BY ALL HAVING sum(n) >= {MIN_COUNT}),
        names AS (SELECT token_id, any_value(token) AS token FROM tok GROUP BY ALL)
        SELECT t.*, names.token FROM t JOIN names USING (token_id)""").df()
    vocabulary["top_share"] = vocabulary.top_n / vocabulary.occurrences
    vocabulary["ci_low"], vocabulary["ci_high"] = wilson(vocabulary.top_n, vocabulary.occurrences)

    token_routes = con.execute(f"""WITH keep AS (SELECT stack, layer, token_norm FROM tok WHERE token_norm <> ''
            GROUP BY ALL HAVING count(*) >= {TOKEN_ROUTES_MIN})
        SELECT stack, layer, token_norm AS token, domain, top1 AS expert, count(*) AS n
        FROM tok JOIN keep USING (stack, layer, token_norm) GROUP BY ALL""").df()

    coactivation = con.execute("""WITH r AS (SELECT stack, layer, experts, row_number() OVER () AS rid FROM tok),
        x AS (SELECT stack, layer, rid, unnest(experts) AS e FROM r)
        SELECT a.stack, a.layer, a.e AS expert_a, b.e AS expert_b, count(*) AS n FROM x a JOIN x b
        ON a.rid = b.rid AND a.e < b.e GROUP BY ALL""").df() if k > 1 else \
        pd.DataFrame(columns=["stack", "layer", "expert_a", "expert_b", "n"])
    if len(coactivation):
        coactivation = coactivation.merge(totals, on=["stack", "layer"])
        coactivation["share"] = coactivation.n / coactivation.tokens
        coactivation["independent"] = (k / e) * ((k - 1) / (e - 1))  # chance that a given pair is chosen together

    paths = con.execute("""WITH layers AS (SELECT DISTINCT stack, layer FROM tok),
        nxt AS (SELECT a.stack, a.layer AS layer_from, min(b.layer) AS layer_to FROM layers a JOIN layers b
                ON a.stack = b.stack AND b.layer > a.layer GROUP BY ALL),
        pairs AS (SELECT n.stack, n.layer_from, n.layer_to, x.top1 AS e_from, y.top1 AS e_to, count(*) AS c
                  FROM nxt n JOIN tok x ON x.stack = n.stack AND x.layer = n.layer_from
                  JOIN tok y ON y.stack = x.stack AND y.layer = n.layer_to AND y.doc = x.doc
                       AND y.position = x.position GROUP BY ALL)
        SELECT stack, layer_from, layer_to, sum(best) AS consistent, sum(total) AS n FROM
            (SELECT stack, layer_from, layer_to, e_from, max(c) AS best, sum(c) AS total FROM pairs GROUP BY ALL)
        GROUP BY ALL ORDER BY ALL""").df()
    paths["consistency"] = paths.consistent / paths.n
    paths["chance"] = 1 / e  # a next expert drawn uniformly, whatever the current one
    paths["ci_low"], paths["ci_high"] = wilson(paths.consistent, paths.n)

    top_tokens = con.execute(f"""WITH c AS (SELECT stack, layer, expert, token_norm AS token, count(*) AS n FROM
              (SELECT stack, layer, unnest(experts) AS expert, token_norm FROM tok WHERE token_norm <> '') GROUP BY ALL),
        tot AS (SELECT stack, layer, expert, sum(n) AS expert_tokens FROM c GROUP BY ALL),
        corpus AS (SELECT stack, layer, token, sum(n) AS token_total FROM c GROUP BY ALL),
        ranked AS (SELECT c.*, tot.expert_tokens, corpus.token_total,
                   row_number() OVER (PARTITION BY c.stack, c.layer, c.expert ORDER BY c.n DESC, c.token) AS rank
                   FROM c JOIN tot USING (stack, layer, expert) JOIN corpus USING (stack, layer, token))
        SELECT * FROM ranked WHERE rank <= {TOP_TOKENS} ORDER BY stack, layer, expert, rank""").df()
    top_tokens["share_of_expert"] = top_tokens.n / top_tokens.expert_tokens
    top_tokens["share_of_token"] = top_tokens.n / top_tokens.token_total  # how much of the token goes here
    top_tokens["examples"] = _kwic(con, top_tokens)

    classes = con.execute("""WITH c AS (SELECT stack, layer, unnest(experts) AS expert, class FROM tok)
        SELECT stack, layer, expert, class, count(*) AS n FROM c GROUP BY ALL""").df()
    classes["expert_tokens"] = classes.groupby(["stack", "layer", "expert"]).n.transform("sum")
    classes["share"] = classes.n / classes.expert_tokens
    overall = classes.groupby(["stack", "layer", "class"]).n.sum() / classes.groupby(["stack", "layer"]).n.sum()
    classes = classes.merge(overall.rename("corpus_share").reset_index(), on=["stack", "layer", "class"])
    classes["lift"] = classes.share / classes.corpus_share
    classes["ci_low"], classes["ci_high"] = wilson(classes.n, classes.expert_tokens)

    n_tokens = int(totals.tokens.max())
    n_rows = int(con.execute("SELECT count(*) FROM tok").fetchone()[0])
    n_domains = int(con.execute("SELECT count(DISTINCT domain) FROM tok").fetchone()[0])
    meta = pd.DataFrame([{"model": model, "experts": e, "top_k": k, "tokens": n_tokens, "rows": n_rows,
                          "domains": n_domains, "function_words": "nltk" if len(stop) != len(STOPWORDS) else "built-in"}])
    con.close()
    return ExpertStats(load, entropy, domain, vocabulary, token_routes, coactivation, paths, top_tokens, classes, meta)


def _kwic(con, top: pd.DataFrame, per_token: int = 2) -> list[str]:
    """Key word in context for each (stack, layer, expert, token): up to `per_token` occurrences, words around."""
    if top.empty:
        return []
    con.register("wanted", top[["stack", "layer", "expert", "token"]])
    hits = con.execute(f"""WITH h AS (SELECT w.stack, w.layer, w.expert, w.token, t.doc, t.position,
            row_number() OVER (PARTITION BY w.stack, w.layer, w.expert, w.token ORDER BY t.doc, t.position) AS r
            FROM wanted w JOIN tok t ON t.stack = w.stack AND t.layer = w.layer AND t.token_norm = w.token
                 AND list_contains(t.experts, w.expert))
        SELECT * FROM h WHERE r <= {per_token}""").df()
    con.unregister("wanted")
    if hits.empty:
        return [""] * len(top)
    con.register("hits", hits[["stack", "layer", "doc", "position"]].drop_duplicates())
    around = con.execute(f"""SELECT h.stack, h.layer, h.doc, h.position AS key, t.position, t.word FROM hits h JOIN tok t
        ON t.stack = h.stack AND t.layer = h.layer AND t.doc = h.doc
        AND t.position BETWEEN h.position - {KWIC_WIDTH * 3} AND h.position + {KWIC_WIDTH * 3}
        ORDER BY h.stack, h.layer, h.doc, h.position, t.position""").df()
    con.unregister("hits")
    contexts: dict[tuple, str] = {}
    for key, part in around.groupby(["stack", "layer", "doc", "key"], sort=False):
        words, marks, last = [], [], None
        for pos, word in zip(part.position, part.word):
            if word and word != last or (pos == key[3] and word):
                words.append(word)
                marks.append(pos == key[3])
            last = word
        i = marks.index(True) if True in marks else len(words) // 2
        left, right = words[max(0, i - KWIC_WIDTH):i], words[i + 1:i + 1 + KWIC_WIDTH]
        contexts[key] = f"… {' '.join(left)} [{words[i] if words else ''}] {' '.join(right)} …"
    out = []
    grouped = hits.groupby(["stack", "layer", "expert", "token"])
    for row in top.itertuples(index=False):
        try:
            part = grouped.get_group((row.stack, row.layer, row.expert, row.token))
        except KeyError:
            out.append("")
            continue
        out.append(" | ".join(contexts.get((row.stack, row.layer, d, p), "") for d, p in zip(part.doc, part.position)))
    return out


def summary(stats: ExpertStats) -> pd.DataFrame:
    """One row per stack: the headline of each statistic, for setting two results side by side."""
    rows = []
    meta = stats.meta.iloc[0]
    for stack, ent in stats.entropy.groupby("stack"):
        vocab = stats.vocabulary[stats.vocabulary["stack"] == stack]
        paths = stats.paths[stats.paths["stack"] == stack]
        classes = stats.classes[(stats.classes["stack"] == stack) & (stats.classes["class"] != "special")]
        top_lift = classes.sort_values("lift", ascending=False).head(1)
        rows.append({
            "model": meta.model, "experts": int(meta.experts), "top_k": int(meta.top_k), "stack": stack,
            "tokens": int(meta.tokens), "layers": len(ent),
            "router entropy (bits)": float(ent.mean_token_entropy_bits.mean()),
            "load entropy / max": float((ent.load_entropy_bits / ent.max_bits).mean()),
            "vocabulary specialisation": float(np.average(vocab.top_share, weights=vocab.occurrences))
            if len(vocab) else np.nan,
            "tokens with n ≥ 10": len(vocab),
            "path consistency": float(np.average(paths.consistency, weights=paths.n)) if len(paths) else np.nan,
            "most specialised class": (f"{top_lift['class'].iloc[0]} → e{int(top_lift.expert.iloc[0])} (block "
                                       f"{int(top_lift.layer.iloc[0])}, lift {top_lift.lift.iloc[0]:.1f})")
            if len(top_lift) else "",
        })
    return pd.DataFrame(rows)


def compute_for_run(run_dir: Path, out: Path | None = None, experts: int | None = None) -> tuple[ExpertStats, Path]:
    """The statistics of a corpus run (its manifest gives the model and expert count unless `experts` is given),
    saved to `out` (default run_dir/stats); returns them and where they went. Shared by the CLI and core.lens."""
    spec = read_manifest(run_dir)
    if spec is None:
        raise InputError(f"{run_dir.name}/ is not a corpus run (no manifest.json): route a corpus first "
                         "(`python -m core corpus`, or Lens.corpus).")
    experts = spec.num_experts if experts is None else experts
    if not experts:
        raise InputError("Could not tell the model's expert count: pass --experts E.")
    stats = compute(run_dir, experts, spec.model)
    out = out or run_dir / "stats"
    stats.save(out)
    return stats, out
