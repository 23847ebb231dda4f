"""Training the chat model (placeholder)."""

from __future__ import annotations

from resolver.model import Model


def describe(model: Model) -> str:
    lines = [f"model {model.version}: prior λ {model.prior:.6g} (weight {model.prior_weight:+.3f})"]
    for c in model.comparisons:
        tf = " (term-frequency adjusted: " + ", ".join(sorted(c.tf_levels)) + ")" if c.tf else ""
        lines.append(f"{c.name}{tf}")
        for lv in c.levels:
            if lv.null:
                lines.append(f"  {lv.name:<14} null: no evidence")
            else:
                lines.append(f"  {lv.name:<14} m {lv.m:<10.4g} u {lv.u:<10.4g} weight {lv.weight:+.3f}")
    return "\n".join(lines)
