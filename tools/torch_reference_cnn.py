#!/usr/bin/python3
"""Writes tests/fixtures/torch_golden_cnn.bin.gz: what PyTorch computes for the CNN.

    /usr/bin/python3 tools/torch_reference_cnn.py [--data /usr/share/datasets/fashion-mnist]
                                                  [--seed 1]
                                                  [--out tests/fixtures/torch_golden_cnn.bin.gz]

The convolutional network's sibling of tools/torch_reference.py (whose fixture, reader and
records it shares): a development tool (Debian's python3-torch 1.13 + numpy); nothing
builds, runs or tests with it, tests/test_torch_golden.c reads the fixture it writes. A
sibling rather than an option of that tool so that the MLP's fixture stays the same bytes,
and because this one differs in kind: its initial weights are fmnist's own, and most of
its tensors are stored as differences from a prediction (below) to keep the file small.

What PyTorch computes, on one intra-op thread, torch.use_deterministic_algorithms(True)
(so a rerun on the same CPU gives the same bytes; another CPU may not, as PyTorch
picks its kernels by CPU):
  * fmnist's convolutional network (mlp_fmnist_cnn), tools/torch_reference.py's ConvNet
    (the one tools/to_torch.py writes):
        Conv2d(1,16,3,padding=1), ReLU, MaxPool2d(2), Conv2d(16,32,3,padding=1), ReLU,
        MaxPool2d(2), Flatten, Linear(1568,64), ReLU, Linear(64,10), log_softmax,
    then nll_loss, its layers conv1, conv2, fc1, fc2;
  * its initial weights drawn as `fmnist train --net cnn --seed SEED` draws them
    (mlp_init_params: xoshiro256** seeded by splitmix64 from SEED, each element
    (2 u - 1) / sqrt(fan_in) in float32, layer by layer, weight then bias), written
    here in Python; the fixture records their CRC-32, which the test checks against
    fmnist's own draw;
  * a batch of the first 12 training images with their labels (fmnist takes them
    through the convolutions as a block of 8 and a partial block of 4, so both kinds
    are checked), normalised as ToTensor + Normalize((0.5,), (0.5,)) do it;
  * the forward pass: the pre-activations z_conv1, z_conv2, z_fc1, the pooled outputs
    pool1, pool2 (and which input of each 2x2 window they took), the logits, the
    log-probabilities and F.nll_loss (mean) of them;
  * the backward pass: the gradient of every parameter tensor, and of the loss with
    respect to z_conv1, pool1, z_conv2, pool2, z_fc1 and the logits;
  * the parameters after 1, 2 and 10 steps of torch.optim.Adam(lr=0.003, default betas
    and eps, foreach=False), each step a forward, zero_grad, backward and step on that
    same batch, and the loss before each of the 10 steps;
  * as tools/torch_reference.py does, how far two correct float32 runs of those steps
    can land apart: reruns in float64, in float32 from weights moved by one ulp at
    random (two draws), and in float32 with, at step 2, the ReLU nearest its kink on
    the other side (of the hidden units of fc1 and the pooled maxima of the two
    convolutions, whichever is nearest zero).

The file: gzip (zlib, mtime 0) of a little-endian stream, tools/torch_reference.py's
format with one more element type (so version 2):
    8        magic "FMGOLDEN"
    4        format version (2)
    4        N, the number of tensors
    N times: 4  name length (1..64), then the name (printable ASCII)
             4  dtype: 1 = uint8, 2 = float32, 3 = ulps (below)
             4  ndim (0..4), then ndim dims of 4 bytes each
             the elements (prod(dims) of them; 1 when ndim is 0): row-major for
             dtypes 1 and 2; for dtype 3 int32 values, each zigzag-coded
             ((v << 1) ^ (v >> 31)) and stored in 4 byte planes (byte 0 of every
             value, then byte 1 of every value, ...)
    4        CRC-32 (zlib's crc32) of every byte before it

Ulps (dtype 3). A float32 tensor T of PyTorch's is stored as its distance in units in
the last place from a prediction P of it: T = unord(ord(P) + d) elementwise, where
ord(f) is f's bits as an integer for f >= +0 and -(bits & 0x7fffffff) - 1 below
(monotone, so d counts the floats between P and T; the sum wraps as int32 arithmetic,
so any T is reachable from any P). Most of PyTorch's activations and gradients lie a few
ulps from P, and such small integers compress about eight times better than the floats
themselves (the parameters after 2 and 10 steps, predicted by the initial ones, compress
less: they are most of the file). P is computed in double, in a fixed order of IEEE additions of exact
products (float32 times float32), and rounded once to float32; the test computes the
same P from the tensors before it, in the same order, and so gets PyTorch's T back
exactly, which "crc32/NAME" (4 bytes, the CRC-32 of T's little-endian float32 bytes)
confirms. With x the normalised images and every tensor in PyTorch's layout (batch
first, channels, rows, columns), each sum in the order written, 0 outside an image:
    z_conv1 = conv(x, conv1),  z_conv2 = conv(pool1, conv2), where conv(a, L)[b,o,y,x] =
              L.bias[o] + sum over c, ky, kx of L.weight[o,c,ky,kx] a[b,c,y+ky-1,x+kx-1]
    z_fc1   = fc1.bias[o] + sum over c of fc1.weight[o,c] flatten(pool2)[b,c]
    logits  = fc2.bias[o] + sum over c of fc2.weight[o,c] relu(z_fc1)[b,c]
    dz_fc1  = sum over o of dlogits[b,o] fc2.weight[o,c], 0 where z_fc1 <= 0
    dpool2  = sum over o of dz_fc1[b,o] fc1.weight[o,c]            (as (B, 32, 7, 7))
    dpool1  = sum over o, ky, kx of conv2.weight[o,c,ky,kx] dz_conv2[b,o,y-ky+1,x-kx+1]
    grad/fcN.weight[o,c] = sum over b of g[b,o] a[b,c], grad/fcN.bias[o] = sum over b of
              g[b,o], with (g, a) = (dz_fc1, flatten(pool2)) for fc1, (dlogits,
              relu(z_fc1)) for fc2
    grad/convN.weight[o,c,ky,kx] = sum over b, y, x of g[b,o,y,x] a[b,c,y+ky-1,x+kx-1],
              grad/convN.bias[o] = sum over b, y, x of g[b,o,y,x], with (g, a) =
              (dz_conv1, x) for conv1, (dz_conv2, pool1) for conv2
    stepK/P = init/P (the parameters after K steps, from the initial weights)
Tensors that are exact functions of earlier ones are not stored, only their CRC-32, and
the test computes them: x (ToTensor, Normalize), pool1 and pool2 (ReLU, then the largest
of each 2x2 window, the first of equal ones), choice1 and choice2 (uint8 (B, C, h, w):
which input of the window, 0..3 in the order (0,0), (0,1), (1,0), (1,1), from
MaxPool2d's indices), dz_conv1 and dz_conv2 (dpool at its window's choice, 0 at the
other inputs, then 0 where z <= 0); and init (fmnist's draw, by fmnist's own
mlp_init_params) and step1 (PyTorch's Adam step from init with the stored gradients,
every parameter in state_dict order; fmnist's Adam must give the same bits).

Tensor names: "meta" (uint8 text, "key=value\\n" lines), "images" (12, 784) uint8,
"labels" (12) uint8; ulps "z_conv1" (12, 16, 28, 28), "z_conv2" (12, 32, 14, 14),
"z_fc1" (12, 64), "logits" (12, 10); float32 "logp" (12, 10), "loss" (), "dlogits"
(12, 10); ulps "dz_fc1" (12, 64), "dpool2" (12, 32, 7, 7), "dpool1" (12, 16, 14, 14);
for each P of conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc1.weight, fc1.bias,
fc2.weight, fc2.bias (state_dict order, PyTorch's layouts) ulps "grad/P", "step2/P" and
"step10/P"; "crc32/NAME" for each of x, init, z_conv1, pool1, choice1, z_conv2, pool2,
choice2, z_fc1, logits, dz_fc1, dpool2, dz_conv2, dpool1, dz_conv1, grad/P, step1,
step2, step10 (the last three over every parameter); float32 "step_losses" (10); and
for the reruns "rerun_l2" and "rerun_max" (4 reruns, 3 snapshots, 8 tensors) and
"rerun_losses" (4, 10) as in tools/torch_reference.py.
"""
import argparse
import gzip
import math
import os
import struct
import sys
import zlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402  (the format, the IDX reader)

BATCH = 12
LR = 0.003
STEPS, SNAPSHOTS = ref.STEPS, ref.SNAPSHOTS  # ref.add_reruns and print_reruns use them too
DT_ULPS = 3
PARAMS = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
          "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


def make_net():
    return ref.ConvNet()


# ---- fmnist's initialisation (src/rng.c, src/mlp.c: mlp_init_params) ----

M64 = (1 << 64) - 1


class Xoshiro:
    """xoshiro256** seeded through splitmix64, as src/rng.c."""

    def __init__(self, seed):
        x, self.s = seed & M64, []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(v, k):
        return ((v << k) | (v >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def uniform(self, n):
        """n draws of rng_uniform: 24 random bits times 2^-24, exact in float32."""
        return np.array([self.next() >> 40 for _ in range(n)], np.float64).astype(np.float32) \
            * np.float32(2.0 ** -24)


def fmnist_init(model, seed):
    """The parameters mlp_init_params draws, in state_dict order."""
    r, out = Xoshiro(seed), OrderedDict()
    for layer in (model.conv1, model.conv2, model.fc1, model.fc2):
        w = layer.weight
        fan_in = int(np.prod(w.shape[1:]))
        bound = np.float32(1.0 / math.sqrt(fan_in))
        for p in (w, layer.bias):
            u = r.uniform(p.numel())
            out[p] = ((np.float32(2) * u - np.float32(1)) * bound).astype(np.float32) \
                .reshape(tuple(p.shape))
    return out


# ---- the forward pass, spelled out ----

def forward(model, x, kink=None):
    """The network's tensors for the batch x. kink = (layer, flat index): that ReLU
    takes the other side (0..1 a convolution's pooled maximum, 2 a unit of fc1)."""
    t, h = {}, x
    for layer, (conv, name) in enumerate(((model.conv1, "1"), (model.conv2, "2"))):
        z = conv(h)
        t["z_conv" + name] = z
        if kink is not None and kink[0] == layer:
            # relu and max commute: the pooled maximum's ReLU is the one that matters
            m = F.max_pool2d(z, 2)
            flat = m.flatten()
            keep = (flat.detach() > 0).to(z.dtype)
            keep[kink[1]] = 1 - keep[kink[1]]
            h = (flat * keep).view_as(m)
        else:
            h = F.max_pool2d(F.relu(z), 2)
        t["pool" + name] = h
    z = model.fc1(h.flatten(1))
    t["z_fc1"] = z
    if kink is not None and kink[0] == 2:
        keep = (z.detach() > 0).to(z.dtype).flatten()
        keep[kink[1]] = 1 - keep[kink[1]]
        a = z * keep.view_as(z)
    else:
        a = F.relu(z)
    t["logits"] = model.fc2(a)
    t["logp"] = F.log_softmax(t["logits"], dim=1)
    return t


def nearest_kink(model, x):
    """(layer, flat index) of the ReLU input nearest zero that the forward pass uses:
    a convolution's pooled maximum or a unit of fc1."""
    with torch.no_grad():
        t = forward(model, x)
        cands = [F.max_pool2d(t["z_conv1"], 2), F.max_pool2d(t["z_conv2"], 2), t["z_fc1"]]
        best = min((float(c.abs().flatten()[int(c.abs().argmin())]), layer,
                    int(c.abs().argmin())) for layer, c in enumerate(cands))
    return best[1], best[2]


def trajectory(model, x, y, record=None, kink_step=None):
    """STEPS Adam steps on (x, y), as in tools/torch_reference.py."""
    opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=False)
    losses, snaps = [], {}
    for step in range(1, STEPS + 1):
        kink = nearest_kink(model, x) if step == kink_step else None
        t = forward(model, x, kink)
        if step == 1 and record:
            with torch.no_grad():
                assert torch.equal(t["logp"], model(x))
            for name in ("z_conv1", "pool1", "z_conv2", "pool2", "z_fc1", "logits"):
                t[name].retain_grad()
        loss = F.nll_loss(t["logp"], y)
        opt.zero_grad()
        loss.backward()
        if step == 1 and record:
            t["loss"] = loss
            record(model, t)
        losses.append(loss.item())
        opt.step()
        if step in SNAPSHOTS:
            snaps[step] = [p.detach().to(torch.float64).numpy().copy()
                           for p in model.parameters()]
    return np.array(losses), snaps


# ---- predictions (the docstring's), in double, each sum in the order written ----

def f64(a):
    return np.asarray(a, np.float32).astype(np.float64)


def pad1(a):
    out = np.zeros(a.shape[:2] + (a.shape[2] + 2, a.shape[3] + 2))
    out[:, :, 1:-1, 1:-1] = f64(a)
    return out


def pred_conv(a, w, bias):
    B, C, H, W = a.shape
    ap, w = pad1(a), f64(w)
    s = np.broadcast_to(f64(bias)[None, :, None, None], (B, w.shape[0], H, W)).copy()
    for c in range(C):
        for ky in range(3):
            for kx in range(3):
                s += w[None, :, c, ky, kx, None, None] * ap[:, c, None, ky:ky + H, kx:kx + W]
    return s.astype(np.float32)


def pred_linear(a, w, bias):
    a, w = f64(a), f64(w)
    s = np.broadcast_to(f64(bias)[None, :], (a.shape[0], w.shape[0])).copy()
    for c in range(w.shape[1]):
        s += w[None, :, c] * a[:, c, None]
    return s.astype(np.float32)


def pred_input(g, w):
    g, w = f64(g), f64(w)
    s = np.zeros((g.shape[0], w.shape[1]))
    for o in range(w.shape[0]):
        s += g[:, o, None] * w[None, o, :]
    return s.astype(np.float32)


def pred_conv_input(g, w):
    B, OC, H, W = g.shape
    gp, w = pad1(g), f64(w)
    s = np.zeros((B, w.shape[1], H, W))
    for o in range(OC):
        for ky in range(3):
            for kx in range(3):
                s += w[None, o, :, ky, kx, None, None] \
                    * gp[:, o, None, 2 - ky:2 - ky + H, 2 - kx:2 - kx + W]
    return s.astype(np.float32)


def pred_weight_grad(g, a):
    g, a = f64(g), f64(a)
    sw, sb = np.zeros((g.shape[1], a.shape[1])), np.zeros(g.shape[1])
    for b in range(g.shape[0]):
        sw += g[b, :, None] * a[b, None, :]
        sb += g[b, :]
    return sw.astype(np.float32), sb.astype(np.float32)


def pred_conv_weight_grad(g, a):
    B, OC, H, W = g.shape
    g, ap = f64(g), pad1(a)
    sw, sb = np.zeros((OC, a.shape[1], 3, 3)), np.zeros(OC)
    for b in range(B):
        for y in range(H):
            for x in range(W):
                sw += g[b, :, y, x, None, None, None] * ap[b, None, :, y:y + 3, x:x + 3]
                sb += g[b, :, y, x]
    return sw.astype(np.float32), sb.astype(np.float32)


# ---- what PyTorch computes exactly from earlier tensors (checked here, CRC there) ----

def pool_first_max(a):
    """relu(a) pooled 2x2, the first of equal values, and which input (0..3)."""
    r = np.maximum(a, np.float32(0))
    B, C, H, W = r.shape
    cand = [r[:, :, dy::2, dx::2] for dy in (0, 1) for dx in (0, 1)]
    m, arg = cand[0].copy(), np.zeros(cand[0].shape, np.uint8)
    for i in (1, 2, 3):
        take = cand[i] > m
        m = np.where(take, cand[i], m)
        arg = np.where(take, np.uint8(i), arg)
    return m, arg


def choice_of(indices, W):
    """MaxPool2d's flat indices (into each H x W plane) as window positions 0..3."""
    idx = indices.numpy()
    return ((idx // W) % 2 * 2 + idx % W % 2).astype(np.uint8)


def routed(dpool, choice, z):
    """dz: each window's gradient at its choice, 0 elsewhere and where z <= 0."""
    dz = np.zeros(z.shape, np.float32)
    for i in range(4):
        dy, dx = i // 2, i % 2
        dz[:, :, dy::2, dx::2] = np.where(choice == i, dpool, np.float32(0))
    return np.where(z > 0, dz, np.float32(0))


def ordered(a):
    b = np.ascontiguousarray(a, np.float32).view(np.int32).astype(np.int64)
    return np.where(b < 0, -(b & 0x7FFFFFFF) - 1, b)


def crc(a):
    return zlib.crc32(np.ascontiguousarray(a).astype(
        "<f4" if a.dtype == np.float32 else a.dtype).tobytes()) & 0xFFFFFFFF


class Writer(ref.Writer):
    """tools/torch_reference.py's records, version 2: ulps and CRCs too."""

    def add_ulps(self, name, value, pred):
        value = np.ascontiguousarray(value, np.float32)
        assert value.shape == pred.shape, name
        d = (ordered(value) - ordered(pred) + 2 ** 31) % 2 ** 32 - 2 ** 31  # as int32 wraps
        z = ((d << 1) ^ (d >> 63)) & 0xFFFFFFFF
        z = z.astype("<u4")
        planes = z.view(np.uint8).reshape(-1, 4).T.tobytes()
        head = struct.pack("<I", len(name)) + name.encode()
        head += struct.pack("<II", DT_ULPS, value.ndim)
        head += struct.pack("<" + "I" * value.ndim, *value.shape)
        self.records.append(head + planes)
        self.add_crc(name, value)
        return int(np.abs(d).max())

    def add_crc(self, name, a):
        self.add("crc32/" + name, np.frombuffer(struct.pack("<I", crc(a)), np.uint8))

    def bytes(self):
        body = b"FMGOLDEN" + struct.pack("<II", 2, len(self.records)) + b"".join(self.records)
        body += struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)
        return gzip.compress(body, compresslevel=9, mtime=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory with train-{images-idx3,labels-idx1}-ubyte[.gz]")
    ap.add_argument("--seed", type=int, default=1, help="fmnist's --seed for the weights")
    ap.add_argument("--out", default="tests/fixtures/torch_golden_cnn.bin.gz")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    mkldnn = torch.backends.mkldnn
    model = make_net()
    init = fmnist_init(model, args.seed)
    with torch.no_grad():
        for p, v in init.items():
            p.copy_(torch.from_numpy(v))
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    init_flat = np.concatenate([v.ravel() for v in init.values()])

    images = ref.read_idx(ref.find(args.data, "train-images-idx3-ubyte"), BATCH)
    images = images.reshape(BATCH, 784)
    labels = ref.read_idx(ref.find(args.data, "train-labels-idx1-ubyte"), BATCH).reshape(BATCH)
    x = torch.from_numpy(images.copy()).to(torch.float32).div(255)
    x = x.sub_(torch.tensor(0.5)).div_(torch.tensor(0.5)).view(BATCH, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))

    w = Writer()
    meta = (f"torch_version={torch.__version__}\nnumpy_version={np.__version__}\n"
            f"network=fmnist's cnn: 28x28-conv3x16-conv3x32-1568-64-10\n"
            f"init=fmnist mlp_init_params\nfmnist_seed={args.seed}\n"
            f"threads=1\ndeterministic_algorithms=1\n"
            f"mkldnn={int(torch.backends.mkldnn.is_available() and mkldnn.enabled)}\n"
            f"batch=first {BATCH} training images\n"
            f"optimizer=torch.optim.Adam(lr={LR}, foreach=False)\nsteps={STEPS}\n"
            + "".join(f"rerun{i}={r}\n" for i, r in enumerate(ref.RERUNS)))
    w.add("meta", np.frombuffer(meta.encode(), np.uint8))
    w.add("images", images)
    w.add("labels", labels)
    xn = x.numpy()
    w.add_crc("x", xn)
    w.add_crc("init", init_flat)
    worst = {}

    def record(m, t):
        T = {k: v.detach().numpy().copy() for k, v in t.items()}
        G = {k: t[k].grad.numpy().copy() for k in
             ("z_conv1", "pool1", "z_conv2", "pool2", "z_fc1", "logits")}
        P = {n: p.detach().numpy().copy() for n, p in m.named_parameters()}
        PG = {n: p.grad.numpy().copy() for n, p in m.named_parameters()}
        # forward
        worst["z_conv1"] = w.add_ulps("z_conv1", T["z_conv1"],
                                      pred_conv(xn, P["conv1.weight"], P["conv1.bias"]))
        for n, z, W in (("1", T["z_conv1"], 28), ("2", T["z_conv2"], 14)):
            pooled, arg = pool_first_max(z)
            assert np.array_equal(pooled.view(np.uint32), T["pool" + n].view(np.uint32)), n
            _, ind = F.max_pool2d(F.relu(t["z_conv" + n]), 2, return_indices=True)
            assert np.array_equal(arg, choice_of(ind, W)), n
            w.add_crc("pool" + n, T["pool" + n])
            w.add("crc32/choice" + n, np.frombuffer(struct.pack(
                "<I", zlib.crc32(arg.tobytes()) & 0xFFFFFFFF), np.uint8))
            if n == "1":
                worst["z_conv2"] = w.add_ulps("z_conv2", T["z_conv2"], pred_conv(
                    T["pool1"], P["conv2.weight"], P["conv2.bias"]))
        flat = T["pool2"].reshape(BATCH, -1)
        worst["z_fc1"] = w.add_ulps("z_fc1", T["z_fc1"],
                                    pred_linear(flat, P["fc1.weight"], P["fc1.bias"]))
        relu = np.maximum(T["z_fc1"], np.float32(0))
        worst["logits"] = w.add_ulps("logits", T["logits"],
                                     pred_linear(relu, P["fc2.weight"], P["fc2.bias"]))
        w.add("logp", T["logp"])
        w.add("loss", T["loss"].reshape(()))
        # backward
        w.add("dlogits", G["logits"])
        mask = T["z_fc1"] > 0
        worst["dz_fc1"] = w.add_ulps("dz_fc1", G["z_fc1"], np.where(
            mask, pred_input(G["logits"], P["fc2.weight"]), np.float32(0)))
        worst["dpool2"] = w.add_ulps("dpool2", G["pool2"], pred_input(
            G["z_fc1"], P["fc1.weight"]).reshape(G["pool2"].shape))
        _, arg2 = pool_first_max(T["z_conv2"])
        dz2 = routed(G["pool2"], arg2, T["z_conv2"])
        assert np.array_equal(dz2.view(np.uint32), G["z_conv2"].view(np.uint32))
        w.add_crc("dz_conv2", dz2)
        worst["dpool1"] = w.add_ulps("dpool1", G["pool1"],
                                     pred_conv_input(dz2, P["conv2.weight"]))
        _, arg1 = pool_first_max(T["z_conv1"])
        dz1 = routed(G["pool1"], arg1, T["z_conv1"])
        assert np.array_equal(dz1.view(np.uint32), G["z_conv1"].view(np.uint32))
        w.add_crc("dz_conv1", dz1)
        preds = {}
        preds["conv1.weight"], preds["conv1.bias"] = pred_conv_weight_grad(dz1, xn)
        preds["conv2.weight"], preds["conv2.bias"] = pred_conv_weight_grad(dz2, T["pool1"])
        preds["fc1.weight"], preds["fc1.bias"] = pred_weight_grad(G["z_fc1"], flat)
        preds["fc2.weight"], preds["fc2.bias"] = pred_weight_grad(G["logits"], relu)
        for n in PARAMS:
            worst["grad/" + n] = w.add_ulps("grad/" + n, PG[n], preds[n])

    losses, snaps = trajectory(model, x, y, record)
    names = [n for n, _ in model.named_parameters()]
    assert tuple(names) == PARAMS
    w.add_crc("step1", np.concatenate([a.astype(np.float32).ravel() for a in snaps[1]]))
    for step in SNAPSHOTS[1:]:
        for name, a, p0 in zip(names, snaps[step], init.values()):
            w.add_ulps(f"step{step}/{name}", a.astype(np.float32), p0)
        w.add_crc(f"step{step}", np.concatenate([a.astype(np.float32).ravel()
                                                 for a in snaps[step]]))
    w.add("step_losses", losses.astype(np.float32))

    runs, l2 = ref.add_reruns(w, trajectory, make_net, init_state, x, y, snaps, losses,
                              len(names))

    blob = ref.save(w, args.out)
    print(f"{args.out}: {len(w.records)} tensors, {len(blob)} bytes; "
          f"loss {losses[0]:.6f} -> {losses[-1]:.6f} over {STEPS} Adam steps")
    print("  farthest from its prediction, in ulps: "
          + ", ".join(f"{k} {v}" for k, v in worst.items()))
    ref.print_reruns(runs, l2, losses)


if __name__ == "__main__":
    main()
