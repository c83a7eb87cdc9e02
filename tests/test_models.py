import torch

from models import build_model


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
