"""Graders as the studio offers them before a job starts: validate one, and score a sample answer with it, in the
shapes of OpenAI's `/fine_tuning/alpha/graders` endpoints. A python grader only where the operator enabled them
(StudioConfig.python_graders); the grading itself is evaluate/graders.py's."""

from __future__ import annotations

import time

ERRORS = ("formula_parse_error", "invalid_variable_error", "model_grader_parse_error", "model_grader_refusal_error",
          "model_grader_server_error", "other_error", "python_grader_runtime_error", "python_grader_server_error",
          "sample_parse_error", "truncated_observation_error", "unresponsive_reward_error")


def validate_grader(ws, spec) -> dict:
    """{"grader": spec} when it parses; ConfigError naming the field otherwise."""
    from anchortune.evaluate import graders

    graders.parse(spec, "grader", allow_python=ws.config.python_graders)
    return {"grader": spec}


def run_grader(ws, spec, model_sample: str, item: dict | None = None) -> dict:
    """The reward of `model_sample` for `item` under the grader, with OpenAI's metadata (its error flags set, and
    the reward 0, where the grader failed on the sample)."""
    from anchortune.evaluate import graders

    grader = graders.parse(spec, "grader", allow_python=ws.config.python_graders)
    errors = dict.fromkeys(ERRORS, False)
    details = None
    started = time.perf_counter()
    try:
        reward = grader.score(model_sample, item or {})
        parts = {name: sub.score(model_sample, item or {}) for name, sub in grader.graders.items()}
    except graders.GraderError as exc:
        reward, parts, details = 0.0, {}, str(exc)
        flag = "invalid_variable_error" if "names a field" in details else \
            "python_grader_runtime_error" if grader.uses_python else "other_error"
        errors[flag] = True
    errors["python_grader_runtime_error_details"] = details if grader.uses_python else None
    errors["model_grader_server_error_details"] = None
    return {"reward": reward, "sub_rewards": parts, "model_grader_token_usage_per_model": {},
            "metadata": {"errors": errors, "execution_time": time.perf_counter() - started, "name": grader.name,
                         "sampled_model_name": None, "scores": {grader.name: reward, **parts},
                         "token_usage": None, "type": grader.type, **({"error": details} if details else {})}}
