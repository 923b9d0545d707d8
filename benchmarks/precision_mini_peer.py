# The PyTorch side of the `precision` suite's mini comparison (run by benchmarks/precision.ts with Debian's
# /usr/bin/python3 and python3-torch 1.13): the mini preset's network written in plain torch.nn (ResNet-18 at a width
# multiplier, FPN with an extra level on P5's output, the PAA head's two GN towers and its cls / reg / IoU convs with
# per-level scales), so that the suite can set ladet's fp32 -> bf16 gain beside PyTorch's own on the same network.
# The parameter counts are reported so the suite can check the two networks are the same size.
# Usage: python3 precision_mini_peer.py '<job JSON>'; prints a "ready" JSON line, then per stdin line one JSON line
# {ms}: "train fp32|bf16" (forward under torch.autocast('cpu', torch.bfloat16) for bf16, a sum-of-squares loss of the
# outputs in fp32, backward: the network's part of a training step, no assignment, no detection loss, no optimizer),
# "infer fp32|bf16" (eval, no grad, outputs cast to fp32), "teacher bf16" (the teacher's eval forward); "end" exits.
# GroupNorm normalises in fp32 and casts back under autocast (PyTorch 1.13's CPU autocast fails on it otherwise), as
# ladet's and precision_peer.py's do.
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Fp32GroupNorm(nn.GroupNorm):
    def forward(self, x):
        if x.dtype == self.weight.dtype:
            return super().forward(x)
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps).to(x.dtype)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


def tower(ch, groups):
    layers = []
    for _ in range(2):
        layers += [nn.Conv2d(ch, ch, 3, 1, 1, bias=False), Fp32GroupNorm(groups, ch), nn.ReLU()]
    return nn.Sequential(*layers)


class MiniPaa(nn.Module):
    """ResNet-18 x `width` (stages 2-4 into the FPN), FPN `fpn` channels + one extra level, PAA head `feat` x 2."""

    def __init__(self, width, classes, fpn=64, feat=64, groups=16):
        super().__init__()
        w = [int(64 * width * m) for m in (1, 2, 4, 8)]
        self.stem = nn.Sequential(
            nn.Conv2d(3, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        stages, cin = [], w[0]
        for i, c in enumerate(w):
            stages.append(nn.Sequential(BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList([nn.Conv2d(c, fpn, 1) for c in w[1:]])
        self.fpn = nn.ModuleList([nn.Conv2d(fpn, fpn, 3, 1, 1) for _ in w[1:]])
        self.extra = nn.Conv2d(fpn, fpn, 3, 2, 1)
        self.cls_tower, self.reg_tower = tower(feat, groups), tower(feat, groups)
        self.cls = nn.Conv2d(feat, classes, 3, 1, 1)
        self.reg = nn.Conv2d(feat, 4, 3, 1, 1)
        self.iou = nn.Conv2d(feat, 1, 3, 1, 1)
        self.scales = nn.Parameter(torch.ones(4))

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        lat = [m(f) for m, f in zip(self.lateral, feats[1:])]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:], mode="nearest")
        levels = [m(t) for m, t in zip(self.fpn, lat)]
        levels.append(self.extra(levels[-1]))
        out = []
        for i, p in enumerate(levels):
            c, r = self.cls_tower(p), self.reg_tower(p)
            out += [self.cls(c), self.reg(r) * self.scales[i], self.iou(r)]
        return out


def count(m):
    return sum(p.numel() for p in m.parameters())


def main():
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    b, s, k = job["batch"], job["size"], job["classes"]
    student = MiniPaa(job["studentWidth"], k)
    teacher = MiniPaa(job["teacherWidth"], k).eval()
    trainer = MiniPaa(job["studentWidth"], k)
    trainer.load_state_dict(student.state_dict())
    student.eval()
    trainer.train()
    images = torch.randn(b, 3, s, s, generator=torch.Generator().manual_seed(12))
    print(json.dumps({"torch": torch.__version__, "params": {"student": count(student), "teacher": count(teacher)}}))
    sys.stdout.flush()

    def ac(prec):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16")

    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "end":
            break
        what, prec = parts
        t0 = time.perf_counter()
        if what == "train":
            with ac(prec):
                outs = trainer(images)
            sum(o.float().square().mean() for o in outs).backward()
            trainer.zero_grad(set_to_none=True)
        else:
            net = teacher if what == "teacher" else student
            with torch.no_grad(), ac(prec):
                [o.float() for o in net(images)]
        print(json.dumps({"ms": (time.perf_counter() - t0) * 1000}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
