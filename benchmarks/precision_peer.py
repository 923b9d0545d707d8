# The PyTorch side of the `precision` suite (run by benchmarks/precision.ts with Debian's /usr/bin/python3,
# python3-torch 1.13 and python3-torchvision): torchvision's FCOS-R50-FPN training step with its forward and losses
# under torch.autocast("cpu", dtype=torch.bfloat16), backward and SGD outside it (PyTorch's recipe).
# Usage: python3 precision_peer.py '<job JSON>'; then per stdin line "step" one JSON line {ms, cpu_ms, split_ms,
# logs}; "end" exits. The model is det_peer.py's (FrozenBatchNorm2d, trainable_backbone_layers 3: stem and layer1
# frozen, the setup ladet's PAA preset shares).
#
# PyTorch 1.13's CPU autocast does not cover group_norm, which then fails on the bf16 output of a conv with fp32
# affine parameters ("expected scalar type BFloat16 but found Float"), as ladet's GroupNorm did. The head's
# GroupNorm modules get the treatment ladet's got: normalise in float32, cast the result back to the input's dtype.
import json
import sys
import time

import torch
import torch.nn.functional as F

from det_peer import build_fcos, read_images, read_targets, say  # this folder is on sys.path (the script's own)


class Fp32GroupNorm(torch.nn.GroupNorm):
    """GroupNorm that normalises a reduced-precision input in float32 and returns the input's dtype."""

    def forward(self, x):
        if x.dtype == self.weight.dtype:
            return super().forward(x)
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps).to(x.dtype)


def fp32_group_norms(module):
    n = 0
    for name, child in module.named_children():
        if type(child) is torch.nn.GroupNorm:
            gn = Fp32GroupNorm(child.num_groups, child.num_channels, child.eps, child.affine)
            gn.load_state_dict(child.state_dict())
            setattr(module, name, gn)
            n += 1
        else:
            n += fp32_group_norms(child)
    return n


def main():
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    h, w, b = job["height"], job["width"], job["batch"]
    model = build_fcos(h, w)
    replaced = fp32_group_norms(model) if job["fp32GroupNorm"] else 0
    images = read_images(job, b, h, w)
    targets = read_targets(job)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    bf16 = job["precision"] == "bf16"

    def step():
        c0 = time.process_time()
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            terms = model(images, targets)
            total = sum(terms.values())
        logs = {k: v.item() for k, v in terms.items()}
        t1 = time.perf_counter()
        total.backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad()
        t3 = time.perf_counter()
        split = {"forward_loss": 1000 * (t1 - t0), "backward": 1000 * (t2 - t1), "optimizer": 1000 * (t3 - t2)}
        return {"ms": 1000 * (t3 - t0), "cpu_ms": 1000 * (time.process_time() - c0), "split_ms": split, "logs": logs}

    params = sum(p.numel() for p in model.parameters())
    say({"ready": True, "threads": torch.get_num_threads(), "params": params, "fp32_group_norms": replaced,
         "torch": torch.__version__})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "end":
            break
        if cmd != "step":
            raise SystemExit(f"precision_peer: unknown command {cmd!r} (step | end)")
        say(step())


main()
