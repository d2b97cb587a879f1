"""One-line summaries of a generation run; every ε names its δ, accountant and scope."""

from __future__ import annotations

from typing import Any


def privacy_line(privacy: dict[str, Any]) -> str:
    """The run's privacy statement, with what the model was pretrained on where it was."""
    if privacy.get("epsilon") is None:
        line = f"privacy: {privacy['mechanism']} — {privacy['guarantee']}"
    else:
        line = (f"privacy: {privacy['mechanism']} — ε={privacy['epsilon']:.3f} at δ={privacy['delta']:g} "
                f"({privacy['accountant'].upper()} accountant; {privacy['scope']})")
    if privacy.get("pretraining"):
        line = f"{line}; {privacy['pretraining']}"
    if str(privacy.get("gradient_noise", "")).startswith("none"):
        line += "; its noise never reaches the SSM-VR gradient, only its clip acts"
    if clipped := {k: v for k, v in privacy.get("clipped_fraction", {}).items() if v > 0}:
        line += "; clipped " + ", ".join(f"{k} {v:.1%}" for k, v in clipped.items())
    weights = privacy.get("trained_weights")
    if weights and weights["trainable"] != "all":
        line += f"; fine-tuned {weights['trained']:,} of {weights['total']:,} weights ({weights['trainable']})"
    return line


def headline(metrics: dict[str, Any]) -> str:
    parts = [f"Fréchet distance {metrics['frechet_distance']:.2f}"]
    if "cnn_accuracy" in metrics:
        parts += [f"CNN acc {metrics['cnn_accuracy']:.3f}", f"logreg acc {metrics['logreg_accuracy']:.3f}"]
    parts += [f"train {metrics['train_seconds']:.0f} s", f"sample {metrics['sample_seconds']:.0f} s"]
    return " | ".join(parts)
