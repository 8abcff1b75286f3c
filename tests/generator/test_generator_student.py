"""The generator student: target-position logits, LoRA / full / pruned training, saved
artifacts that load in plain transformers and in the hf-causal-lm generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ragdistill.errors import ConfigError
from ragdistill.generation.causal_lm import CausalLMStudent, prune_layers

MESSAGES = [
    {"role": "system", "content": "answer from the contexts"},
    {"role": "user", "content": "what is the capital of france?"},
]
ANSWERS = ["paris", "the capital is paris, france"]


@pytest.fixture(scope="module")
def lm3_path(tiny_models_dir: Path) -> Path:
    from ragdistill.testing.tiny import tiny_causal_lm

    return tiny_causal_lm(tiny_models_dir / "causal-lm-3", layers=3)


def _rows(model):
    prompt = model.prompt_ids(MESSAGES)
    return [(prompt, model.target_ids(ANSWERS[0])), (prompt[3:], model.target_ids(ANSWERS[1]))]


def _logits(model, rows) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(rows)


def _train(model, rows, steps: int = 3) -> None:
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    for _ in range(steps):
        logits = model(rows)
        loss = sum(
            torch.nn.functional.cross_entropy(logits[b, : len(t)], torch.tensor(t))
            for b, (_, t) in enumerate(rows)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _plain_logits(path: Path, rows) -> list[torch.Tensor]:
    """Each row's target-position logits from the saved folder, read by plain transformers."""
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(path).eval()
    out = []
    with torch.no_grad():
        for prompt, target in rows:
            full = plain(torch.tensor([list(prompt) + list(target)])).logits[0]
            out.append(full[len(prompt) - 1 : len(prompt) + len(target) - 1])
    return out


def test_forward_returns_teacher_forced_logits_at_target_positions(tiny_causal_lm_path):
    model = CausalLMStudent(str(tiny_causal_lm_path)).build()
    rows = _rows(model)
    shapes = []  # the output layer must run on the target positions only
    head = model.causal_lm.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, args, out: shapes.append(tuple(out.shape)))
    logits = _logits(model, rows)
    handle.remove()
    n_target = max(len(t) for _, t in rows)
    assert shapes == [(2, n_target, model.vocab_size)]
    assert logits.shape == (2, n_target, model.vocab_size) and model.output_dim == model.vocab_size
    with torch.no_grad():
        for b, (prompt, target) in enumerate(rows):
            full = model.causal_lm(torch.tensor([prompt + target])).logits[0]
            expected = full[len(prompt) - 1 : len(prompt) + len(target) - 1]
            torch.testing.assert_close(logits[b, : len(target)], expected, atol=1e-5, rtol=1e-5)
            assert not logits[b, len(target) :].any()
        alone = model([rows[0]])
    torch.testing.assert_close(alone[0], logits[0, : len(rows[0][1])], atol=1e-5, rtol=1e-5)


def test_long_rows_lose_their_oldest_prompt_tokens_never_the_answer(tiny_causal_lm_path):
    model = CausalLMStudent(str(tiny_causal_lm_path), max_length=12).build()
    prompt, target = _rows(model)[1]
    assert len(prompt) + len(target) > 12
    clipped = prompt[-(12 - len(target)) :]
    model.max_length = 10_000
    expected = _logits(model, [(clipped, target)])
    model.max_length = 12
    torch.testing.assert_close(_logits(model, [(prompt, target)]), expected)
    with pytest.raises(ValueError, match="no prompt tokens"):
        model([([], target)])


def test_prompt_ids_match_what_the_generator_feeds_the_model(tiny_causal_lm_path):
    from ragdistill.contracts.messages import GenerationRequest, to_messages
    from ragdistill.hf._causal import encode_prompts
    from ragdistill.hf.generator import CausalLMGenerator

    model = CausalLMStudent(str(tiny_causal_lm_path)).build()
    generator = CausalLMGenerator(str(tiny_causal_lm_path))
    request = GenerationRequest(to_messages(MESSAGES), max_new_tokens=4)
    for template in (model.tokenizer.chat_template, None):  # chat template, then plain
        model.tokenizer.chat_template = generator.lm.tokenizer.chat_template = template
        fed = encode_prompts(generator.lm, [generator.prompt(request)], reserve=4)
        assert model.prompt_ids(MESSAGES) == fed["input_ids"][0].tolist()
    assert model.prompt_ids(MESSAGES)[0] == model.tokenizer.bos_token_id
    target = model.target_ids("paris")
    assert target[-1] == model.tokenizer.eos_token_id == model.eos_id == 3
    assert model.tokenizer.decode(target[:-1]) == "paris"


def test_lora_trains_only_adapters_and_saves_a_merged_plain_model(tiny_causal_lm_path, tmp_path):
    from transformers import AutoTokenizer

    from ragdistill.hf.generator import CausalLMGenerator

    student = CausalLMStudent(str(tiny_causal_lm_path), lora={"r": 4, "alpha": 8})
    model = student.build()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    rows = _rows(model)
    before = _logits(model, rows)
    _train(model, rows)
    after = _logits(model, rows)
    assert not torch.allclose(before, after)
    model.save_artifact(tmp_path / "lora")
    files = {p.name for p in (tmp_path / "lora").iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json"} <= files
    assert "adapter_config.json" not in files and "ragdistill.json" not in files
    for b, expected in enumerate(_plain_logits(tmp_path / "lora", rows)):
        torch.testing.assert_close(after[b, : len(expected)], expected, atol=1e-4, rtol=1e-4)
    assert AutoTokenizer.from_pretrained(tmp_path / "lora").chat_template
    assert model.is_lora  # the adapters were merged into a copy: training goes on
    _train(model, rows, steps=1)
    assert not torch.allclose(_logits(model, rows), after)
    generator = CausalLMGenerator(str(tmp_path / "lora"), **student.load_options())
    assert generator.generate("what is the capital of france?").usage["completion_tokens"] >= 1


def test_full_fine_tune_saves_the_trained_weights(tiny_causal_lm_path, tmp_path):
    model = CausalLMStudent(str(tiny_causal_lm_path), freeze_embeddings=True).build()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"model.model.embed_tokens.weight"}
    rows = _rows(model)
    before = _logits(model, rows)
    _train(model, rows)
    after = _logits(model, rows)
    assert not torch.allclose(before, after)
    model.save_artifact(tmp_path / "full")
    for b, expected in enumerate(_plain_logits(tmp_path / "full", rows)):
        torch.testing.assert_close(after[b, : len(expected)], expected, atol=1e-4, rtol=1e-4)


def test_gradient_checkpointing_with_lora_still_trains(tiny_causal_lm_path):
    student = CausalLMStudent(str(tiny_causal_lm_path), lora={}, gradient_checkpointing=True)
    model = student.build()
    assert model.causal_lm.model.gradient_checkpointing
    rows = _rows(model)
    model.train()
    model(rows).sum().backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert grads and all(g is not None for g in grads)


def test_pruned_student_renumbers_layers_generates_and_round_trips(lm3_path, tmp_path):
    from transformers import AutoModelForCausalLM

    model = CausalLMStudent(str(lm3_path), keep_layers=[0, 2]).build()
    lm = model.causal_lm
    assert lm.config.num_hidden_layers == 2 and len(lm.model.layers) == 2
    assert [layer.self_attn.layer_idx for layer in lm.model.layers] == [0, 1]
    prompt = torch.tensor([model.prompt_ids(MESSAGES)])
    lm.eval()
    with torch.no_grad():
        generated = lm.generate(prompt, max_new_tokens=5, do_sample=False, eos_token_id=None)
        ids = prompt
        for _ in range(5):  # greedy decoding without a cache, one full forward per token
            next_id = lm(ids, use_cache=False).logits[0, -1].argmax()
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    assert generated.tolist() == ids.tolist()
    model.save_artifact(tmp_path / "pruned")
    config = json.loads((tmp_path / "pruned" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2
    rows = _rows(model)
    logits = _logits(model, rows)
    for b, expected in enumerate(_plain_logits(tmp_path / "pruned", rows)):
        torch.testing.assert_close(logits[b, : len(expected)], expected, atol=1e-5, rtol=1e-5)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pruned").eval()
    with torch.no_grad():
        again = reloaded.generate(prompt, max_new_tokens=5, do_sample=False, eos_token_id=None)
    assert again.tolist() == generated.tolist()


def test_pruning_slices_per_layer_config_of_a_sliding_window_model(tmp_path):
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=4,
        num_attention_heads=2, num_key_value_heads=1, use_sliding_window=True,
        sliding_window=4, max_window_layers=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval()
    prune_layers(model, [1, 2, 3])
    assert model.config.layer_types == ["full_attention", "sliding_attention", "sliding_attention"]
    assert model.config.max_window_layers == 1
    model.save_pretrained(tmp_path / "qwen")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "qwen").eval()
    assert reloaded.config.layer_types == model.config.layer_types
    ids = torch.arange(10).view(1, 10)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, model(ids).logits)


def test_unsupported_architecture_cannot_be_pruned():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_embd=16, n_layer=2, n_head=2))
    with pytest.raises(ConfigError, match=r"remove student\.keep_layers"):
        prune_layers(model, [0])


@pytest.mark.parametrize(
    "build", [lambda p: CausalLMStudent(p, lora={"r": 2}, keep_layers=[0, 2]), CausalLMStudent]
)
def test_state_dict_round_trips_into_a_freshly_built_student(lm3_path, build):
    model = build(str(lm3_path)).build()
    rows = _rows(model)
    _train(model, rows, steps=1)
    fresh = build(str(lm3_path)).build()
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(_logits(fresh, rows), _logits(model, rows))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lora": {"rank": 8}}, "unknown key.*r, alpha, dropout, target_modules"),
        ({"lora": {"r": 0}}, "student.lora.r"),
        ({"lora": {"alpha": -1}}, "student.lora.alpha"),
        ({"lora": {"dropout": 1.0}}, "student.lora.dropout"),
        ({"lora": {"target_modules": []}}, "student.lora.target_modules"),
        ({"keep_layers": [2, 0]}, "ascending"),
        ({"keep_layers": []}, "student.keep_layers"),
        ({"max_length": 4}, "student.max_length"),
        ({"dtype": "float8"}, "student.dtype"),
        ({"device": "no-such-device"}, "no-such-device"),
        ({"keep_layers": [0, 5]}, "layer 5, but the model has 3 layers"),
        ({"max_lenght": 64}, "did you mean 'max_length'"),
    ],
)
def test_bad_options_give_clear_errors(lm3_path, options, message):
    with pytest.raises(ConfigError, match=message):
        CausalLMStudent.from_options({"model": str(lm3_path), **options}).build()


def test_student_describes_itself_for_the_pipeline(tiny_causal_lm_path):
    student = CausalLMStudent.from_options({"model": str(tiny_causal_lm_path), "lora": {"r": 4}})
    assert student.stage == "generator" and student.loader == "hf-causal-lm"
    assert student.describe()["options"]["lora"] == {"r": 4}
    assert student.lora == {
        "r": 4,
        "alpha": 32,
        "dropout": 0.05,
        "target_modules": "all-linear",
        "top_layers": None,
    }
    assert student.load_options() == {}


def test_lora_on_the_top_layers_only(tiny_models_dir):
    from ragdistill.testing.tiny import tiny_causal_lm

    path = tiny_causal_lm(tiny_models_dir / "causal-lm-3", layers=3)
    model = CausalLMStudent.from_options({"model": str(path), "lora": {"top_layers": 1}}).build()
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(".layers.2." in n and "lora_" in n for n in trained)
    with pytest.raises(Exception, match=r"top_layers .* must be an integer >= 1"):
        CausalLMStudent.from_options({"model": str(path), "lora": {"top_layers": 0}})
