"""The GGUF header scan (export/gguf.py's `_scan`, behind `metadata` and the add_bos_token fix) against gguf-py's own
reader, on a file gguf-py's writer made with every kind of field: scalars, strings, arrays of strings and numbers,
an array of arrays, and tensors of two types."""

from __future__ import annotations

import numpy as np
import pytest

from anchortune.errors import RunError
from anchortune.export import gguf


@pytest.fixture
def written(tmp_path):
    from gguf import GGUFValueType, GGUFWriter

    path = tmp_path / "made.gguf"
    writer = GGUFWriter(str(path), arch="llama")
    writer.add_name("made")
    writer.add_uint32("general.file_type", 7)
    writer.add_string("tokenizer.chat_template", "{{ messages }} – ünïcode")
    writer.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(3000)])
    writer.add_array("tokenizer.ggml.scores", [float(i) for i in range(3000)])
    writer.add_key_value("nested", [[1, 2], [3, 4, 5]], GGUFValueType.ARRAY)
    writer.add_uint32("tokenizer.ggml.bos_token_id", 1)
    writer.add_bool("tokenizer.ggml.add_bos_token", True)
    writer.add_float32("rope.scale", 0.5)
    writer.add_int64("big", -(2 ** 40))
    writer.add_tensor("a.weight", np.ones((4, 8), dtype=np.float32))
    writer.add_tensor("b.weight", np.ones((2, 4), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_header_scan_reads_what_gguf_py_reads_and_steps_over_arrays(written):
    from gguf import GGUFReader

    reader = GGUFReader(str(written))
    scalars, types = gguf._scan(written)
    expected = {k: f.contents() for k, f in reader.fields.items()
                if not k.startswith("GGUF.") and f.types[0].name != "ARRAY"}
    assert {k: v for k, (v, _) in scalars.items()} == pytest.approx(expected)
    assert "tokenizer.ggml.tokens" not in scalars and "nested" not in scalars
    assert types == [int(t.tensor_type) for t in reader.tensors]
    meta = gguf.metadata(written)
    assert meta["tensors"] == 2 and meta["tensor_types"] == ["F16", "F32"]
    assert meta["chat_template"].endswith("ünïcode") and meta["add_bos_token"] is True and meta["name"] == "made"


def test_the_bos_flag_is_turned_off_in_place_once(written):
    from gguf import GGUFReader

    assert gguf.match_training_framing(written) is True
    assert gguf.match_training_framing(written) is False
    reader = GGUFReader(str(written))
    assert reader.fields["tokenizer.ggml.add_bos_token"].contents() is False
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == 3000  # nothing else moved


def test_a_file_that_is_not_gguf_is_named(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"not a gguf at all, just bytes" * 4)
    with pytest.raises(RunError, match="model.gguf is not a GGUF file"):
        gguf.metadata(path)


def _gguf(path, tokens: list[str], extra: dict, arch: str = "llama"):
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch=arch)
    writer.add_name("model")
    writer.add_string("tokenizer.chat_template", "{{ training's template }}")
    writer.add_array("tokenizer.ggml.tokens", tokens)
    for key, value in extra.items():
        (writer.add_array if isinstance(value, list) else writer.add_string if isinstance(value, str)
         else writer.add_uint32)(key, value)
    writer.add_tensor("token_embd.weight", np.arange(len(tokens) * 8, dtype=np.float32).reshape(len(tokens), 8))
    writer.add_tensor("blk.0.attn_q.weight", np.full((8, 8), 0.25, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_base_models_tokenizer_is_spliced_in_and_nothing_else_moves(tmp_path):
    """adopt_tokenizer against gguf-py's reader: every tokenizer.ggml.* field is the source's (one the source lacks
    is gone, the source's others are there), every other field and every tensor's bytes are the exported file's."""
    from gguf import GGUFReader

    exported = _gguf(tmp_path / "exported.gguf", [f"t{i}" for i in range(300)],
                     {"tokenizer.ggml.pre": "granite", "tokenizer.ggml.merges": ["t 1", "t 2"],
                      "tokenizer.ggml.bos_token_id": 2})
    source = _gguf(tmp_path / "source.gguf", [f"▁piece{i}" for i in range(300)],
                   {"tokenizer.ggml.pre": "default", "tokenizer.ggml.scores": [float(-i) for i in range(300)],
                    "tokenizer.ggml.bos_token_id": 7}, arch="gemma3")
    before = GGUFReader(str(exported))
    tensors = {t.name: np.array(t.data) for t in before.tensors}
    gguf.adopt_tokenizer(exported, source)
    after, theirs = GGUFReader(str(exported)), GGUFReader(str(source))
    fields = {k: f.contents() for k, f in after.fields.items() if not k.startswith("GGUF.")}
    assert fields["tokenizer.ggml.tokens"] == [f"▁piece{i}" for i in range(300)]
    assert fields["tokenizer.ggml.scores"] == pytest.approx([float(-i) for i in range(300)])
    assert fields["tokenizer.ggml.pre"] == "default" and fields["tokenizer.ggml.bos_token_id"] == 7
    assert "tokenizer.ggml.merges" not in fields
    assert fields["tokenizer.chat_template"] == "{{ training's template }}" and fields["general.architecture"] == "llama"
    assert {k for k in fields if k.startswith("tokenizer.ggml.")} == \
        {k for k in theirs.fields if k.startswith("tokenizer.ggml.")}
    assert {t.name: np.array(t.data).tolist() for t in after.tensors} == {k: v.tolist() for k, v in tensors.items()}
    assert [t.tensor_type for t in after.tensors] == [t.tensor_type for t in before.tensors]
    assert not list(tmp_path.glob("*.tok"))


def test_a_tokenizer_of_another_size_is_refused(tmp_path):
    exported = _gguf(tmp_path / "exported.gguf", [f"t{i}" for i in range(300)], {})
    source = _gguf(tmp_path / "source.gguf", [f"t{i}" for i in range(200)], {})
    size = exported.stat().st_size
    with pytest.raises(RunError, match="has 200 tokens, the exported model 300"):
        gguf.adopt_tokenizer(exported, source)
    assert exported.stat().st_size == size
