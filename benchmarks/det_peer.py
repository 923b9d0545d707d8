# The PyTorch side of the `det` suite (run by benchmarks/det.ts with Debian's /usr/bin/python3, python3-torch and
# python3-torchvision): torchvision's FCOS-R50-FPN, one process per call so that its peak RSS is its own.
# Usage: python3 det_peer.py '<DetJob JSON>'; the step-by-step protocol of det_child.ts.
#
# The model is assembled the way torchvision.models.detection.fcos_resnet50_fpn does on its pretrained path:
# FrozenBatchNorm2d and trainable_backbone_layers=3 (stem and layer1 frozen), the configuration ladet's PAA preset
# shares (frozenStages 1, normEval true). With weights=None and weights_backbone=None fcos_resnet50_fpn itself would
# train every layer with batch-statistics BatchNorm, a different workload. No pretrained weights are loaded;
# inference loads ladet's initial weights mapped to torchvision's names (see det.ts).
import json
import resource
import struct
import sys
import time

import numpy as np
import torch
from torchvision.models import resnet50
from torchvision.models.detection import FCOS
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelP6P7


def peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_ms():
    return 1000 * time.process_time()


def read_safetensors(path):
    """The F32 tensors of a safetensors file (8-byte header length, JSON header, data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__" or e["dtype"] != "F32":
            continue
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy().reshape(e["shape"]))
    return out


def fcos_name(k):
    """torchvision FCOS name of a ladet (mmdetection-named) PAA-R50-FPN tensor; None for those FCOS lacks."""
    p = k.split(".")
    if p[0] == "backbone":
        return None if p[-1] == "num_batches_tracked" else "backbone.body." + ".".join(p[1:])
    if p[0] == "neck":
        i = int(p[2])
        if p[1] == "lateral_convs":
            return f"backbone.fpn.inner_blocks.{i}.0.{p[-1]}"
        if i < 3:
            return f"backbone.fpn.layer_blocks.{i}.0.{p[-1]}"
        return f"backbone.fpn.extra_blocks.{'p6' if i == 3 else 'p7'}.{p[-1]}"
    # bbox_head: towers are conv, GN, ReLU triples in FCOS's Sequential; the learnable scales (all 1) have no twin
    if p[1] in ("cls_convs", "reg_convs"):
        head = "classification_head" if p[1] == "cls_convs" else "regression_head"
        j = 3 * int(p[2]) + (0 if p[3] == "conv" else 1)
        return f"head.{head}.conv.{j}.{p[-1]}"
    outputs = {
        "atss_cls": "head.classification_head.cls_logits",
        "atss_reg": "head.regression_head.bbox_reg",
        "atss_centerness": "head.regression_head.bbox_ctrness",
    }
    return outputs[p[1]] + "." + p[-1] if p[1] in outputs else None


def load_ladet_weights(model, path):
    own = model.state_dict()
    done = set()
    with torch.no_grad():
        for k, t in read_safetensors(path).items():
            name = fcos_name(k)
            if name is None:
                continue
            if name not in own or own[name].shape != t.shape:
                raise SystemExit(f"det_peer: {k} -> {name} does not fit the FCOS model")
            own[name].copy_(t)
            done.add(name)
    # what stays at FCOS's own init: the tower conv biases (zero, as ladet's bias-free convs)
    rest = [k for k in own if k not in done]
    if any(not k.endswith(".bias") or ".conv." not in k for k in rest):
        raise SystemExit(f"det_peer: FCOS tensors without a ladet twin: {rest}")


def build_fcos(h, w, **kw):
    """torchvision's FCOS-R50-FPN with frozen BN statistics, as the peer of ladet's PAA-R50-FPN. min/max size equal
    the input size: the transform pads but does not rescale. Identity normalisation: ladet's input is normalised by
    its data pipeline, and both sides must see the same pixels."""
    backbone = resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(backbone, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return FCOS(backbone, num_classes=80, min_size=min(h, w), max_size=max(h, w),
                image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0], **kw)


def read_images(job, b, h, w):
    """The batch ladet's side wrote (little-endian float32, b x 3 x h x w), as FCOS's list of images."""
    pixels = np.fromfile(job["image"], dtype="<f4").reshape(b, 3, h, w)
    return list(torch.from_numpy(pixels).unbind(0))


def read_targets(job):
    return [
        {"boxes": torch.tensor(bx, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(lb, dtype=torch.int64)}
        for bx, lb in zip(job["boxes"], job["labels"])
    ]


def say(x):
    sys.stdout.write(json.dumps(x) + "\n")
    sys.stdout.flush()


def main():
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    h, w, b = job["height"], job["width"], job["batch"]
    model = build_fcos(h, w, score_thresh=job["scoreThr"])
    if job["weights"] is not None:
        load_ladet_weights(model, job["weights"])
    device = torch.device(job.get("device", "cpu"))
    model.to(device)
    images = [im.to(device) for im in read_images(job, b, h, w)]
    # a GPU runs behind the host: a step's time ends when its kernels have run
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if job["mode"] == "train":
        targets = [{k: v.to(device) for k, v in t.items()} for t in read_targets(job)]
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-4)
        model.train()

        def step():
            c0 = cpu_ms()
            t0 = time.perf_counter()
            terms = model(images, targets)
            total = sum(terms.values())
            logs = {k: v.item() for k, v in terms.items()}
            t1 = time.perf_counter()
            total.backward()
            t2 = time.perf_counter()
            opt.step()
            opt.zero_grad()
            sync()
            t3 = time.perf_counter()
            split = {"forward_loss": 1000 * (t1 - t0), "backward": 1000 * (t2 - t1), "optimizer": 1000 * (t3 - t2)}
            return {"ms": 1000 * (t3 - t0), "cpu_ms": cpu_ms() - c0, "split_ms": split, "logs": logs}

    else:
        model.eval()

        def step():
            c0 = cpu_ms()
            t0 = time.perf_counter()
            with torch.no_grad():
                dets = model(images)
            sync()
            ms = 1000 * (time.perf_counter() - t0) / b
            return {"ms": ms, "cpu_ms": (cpu_ms() - c0) / b, "detections": int(dets[0]["scores"].numel())}

    params = sum(p.numel() for p in model.parameters())
    import torchvision

    versions = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    say({"ready": True, "threads": torch.get_num_threads(), "params": params, "base_rss_kb": peak_kb(), "versions": versions})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "end":
            break
        if cmd != "step":
            raise SystemExit(f"det_peer: unknown command {cmd!r} (step | end)")
        say(step())
    say({"peak_rss_kb": peak_kb()})


if __name__ == "__main__":
    main()
