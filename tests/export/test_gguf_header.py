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
