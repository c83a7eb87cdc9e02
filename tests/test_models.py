import torch

from models import build_model, fuse_batchnorm


def test_paper_model_has_resnet18_cifar_parameter_count():
    model = build_model(num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)  # CIFAR stem
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())


def test_features_and_logits_shapes_and_consistency():
    model = build_model(num_classes=7, width=4).eval()
    x = torch.randn(5, 3, 32, 32)
    logits, features = model(x, return_features=True)
    assert logits.shape == (5, 7) and features.shape == (5, 32)
    torch.testing.assert_close(model.classifier(features), logits)


def test_dropout_is_off_by_default_and_on_when_asked():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    plain = build_model(3, width=4)
    plain.eval()
    plain.dropout.train()  # dropout "on", but p = 0: deterministic
    torch.testing.assert_close(plain(x), plain(x))
    noisy = build_model(3, width=4, dropout=0.5)
    noisy.eval()
    noisy.dropout.train()
    assert not torch.allclose(noisy(x), noisy(x))


def test_folding_batchnorm_keeps_the_function_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = build_model(10, width=8)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # far from identity
        bn.weight.data.uniform_(0.5, 2.0)
        bn.bias.data.normal_(0, 0.5)
        bn.running_mean.normal_(0, 0.5)
        bn.running_var.uniform_(0.2, 3.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(64, 3, 32, 32)

    fused = fuse_batchnorm(model.train())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert model.training  # the original keeps its mode, its BatchNorm layers and its weights
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        expected, got = model.eval()(x), fused(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    top2 = expected.topk(2, 1).values  # other kernels round differently: the classes agree exactly
    assert (top2[:, 0] - top2[:, 1]).min() > 1e-3  # because no sample is near a tie
    assert torch.equal(got.argmax(1), expected.argmax(1))


def test_logits_stay_float32_under_bfloat16_autocast():
    """--bf16 must not round the logits: argmax (preds.npy) and softmax (probs.npy) read them."""
    torch.manual_seed(0)
    model = build_model(10, width=4).eval()
    x = torch.randn(6, 3, 16, 16)
    with torch.autocast("cpu", torch.bfloat16):
        logits, features = model(x, return_features=True)
    assert features.dtype == torch.bfloat16  # the trunk does run in bfloat16
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, model.classifier(features.float()), rtol=0, atol=0)
