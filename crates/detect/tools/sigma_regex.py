"""Helpers shared by the rule generators (gen_sqli.py, gen_xss.py): regexes written for
Python's `re` turned into the Sigma `|re|i` values rsigma compiles with Rust's regex."""


def ascii_classes(p):
    """ASCII-only classes: Unicode \\w, \\b, \\d, \\s and their negations make the
    compiled automata many times larger (the two web rules took 1.5 s of every start-up,
    compiled once per field and web dataset; 0.2 s with ASCII classes)."""
    return (
        p.replace(r"\b", r"(?-u:\b)")
        .replace(r"\w", r"[0-9A-Za-z_]")
        .replace(r"\W", r"[^0-9A-Za-z_]")
        .replace(r"\s", r"[\t\n\v\f\r ]")
        .replace(r"\S", r"[^\t\n\v\f\r ]")
        .replace(r"\d", r"[0-9]")
    )


def q(p):
    """A YAML single-quoted scalar holding `p` with ASCII classes."""
    p = ascii_classes(p)
    return "'" + p.replace("'", "''") + "'"


def alternation(patterns):
    """One regex per field: a list of regexes costs a compiled automaton each, and the
    pack compiles the web rules once per web dataset; one alternation matches the same
    requests and compiles several times faster."""
    return "|".join("(?:" + p + ")" for p in patterns)
