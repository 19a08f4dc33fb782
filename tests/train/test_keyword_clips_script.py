"""scripts/make_keyword_clips.py --text: evaluation sentences read from running text."""

from __future__ import annotations

import gzip

from .conftest import load_script, run_script

TEXT = """We the People of the United States, in Order to form a more perfect Union, establish
Justice. The NASA budget was cut. Section 2. The House of Representatives shall be composed
of Members chosen every 2 Years. We the People of the United States, in Order to form a
more perfect Union, establish Justice. Too short. He has refused his Assent to Laws, the
most wholesome and necessary for the public good."""


def test_sentences_are_split_normalised_deduplicated_and_shuffled_by_seed(tmp_path):
    script = load_script("make_keyword_clips.py")
    path = tmp_path / "text.gz"
    with gzip.open(path, "wt") as f:
        f.write(TEXT)
    got = script.running_text_sentences([path], seed=0)
    labels = [label for _, label in got]
    assert sorted(labels) == sorted([
        "WE THE PEOPLE OF THE UNITED STATES IN ORDER TO FORM A MORE PERFECT UNION ESTABLISH JUSTICE",
        "THE HOUSE OF REPRESENTATIVES SHALL BE COMPOSED OF MEMBERS CHOSEN EVERY TWO YEARS",
        "HE HAS REFUSED HIS ASSENT TO LAWS THE MOST WHOLESOME AND NECESSARY FOR THE PUBLIC GOOD",
    ]), "the duplicate, the acronym sentence and the two-word ones are left out; numbers spelled out"
    spoken = dict((label, spoken) for spoken, label in got)
    assert spoken[labels[0]][0].isupper() and "," in "".join(spoken.values()), "the voice reads the cased text"
    assert script.running_text_sentences([path], seed=0) == got
    orders = {tuple(label for _, label in script.running_text_sentences([path], seed=s)) for s in range(8)}
    assert len(orders) > 1, "the seed shuffles"


def test_text_arguments_are_checked_before_any_synthesis(tmp_path):
    res = run_script("make_keyword_clips.py", "--eval", tmp_path / "out", "--sentences", "3",
                     "--text", tmp_path / "missing.txt")
    assert res.returncode == 2 and "missing.txt" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "some.txt").write_text(TEXT)
    res = run_script("make_keyword_clips.py", "--eval", tmp_path / "out", "--text", tmp_path / "some.txt")
    assert res.returncode == 2 and "--text needs --eval DIR and --sentences N" in res.stderr
    res = run_script("make_keyword_clips.py", "--sentences", "3", "--text", tmp_path / "some.txt")
    assert res.returncode == 2 and "--text needs --eval DIR" in res.stderr  # not the committed test clips
    assert not (tmp_path / "out").exists()
