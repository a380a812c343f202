# Parity cases for several objectives in one model (tests/parity/gan.nn):
# one build per objective (nnc --objective NAME), and the one-file build
# (nnc without --objective: the harness drives its part gan_d_loss or
# gan_g_loss, case.prefix), each against torch with
# the parameters outside the objective's params set frozen
# (requires_grad_(False)), the generator's loss backpropagating through
# the frozen discriminator. `tp` is test_parity.py (set by family_cases()).
# flake8: noqa: F821
import torch
import torch.nn as nn
import torch.nn.functional as F

CASES = []


class Gan(nn.Module):
    def __init__(self, objective):
        super().__init__()
        self.objective = objective
        self.dw = nn.Parameter(torch.zeros(3, 5))
        self.db = nn.Parameter(torch.zeros(5))
        self.dv = nn.Parameter(torch.zeros(5, 1))
        self.gen = nn.Linear(2, 3)
        if objective == "d_loss":
            self.gen.requires_grad_(False)
        else:
            for p in (self.dw, self.db, self.dv):
                p.requires_grad_(False)

    def disc(self, x):
        return torch.sigmoid(torch.tanh(x @ self.dw + self.db) @ self.dv)

    def forward(self, io):
        fake = torch.tanh(self.gen(io["z"]))
        if self.objective == "d_loss":
            loss = (F.binary_cross_entropy(self.disc(io["real"]), io["ones"])
                    + F.binary_cross_entropy(self.disc(fake.detach()), io["zeros"]))
        else:
            loss = F.binary_cross_entropy(self.disc(fake), io["ones"])
        return loss, {}


def batch_gan(rng):
    return {"real": rng.standard_normal((4, 3)), "z": rng.standard_normal((4, 2)),
            "ones": rng.uniform(1, 1, (4, 1)), "zeros": rng.uniform(0, 0, (4, 1))}


for obj, seed in (("d_loss", 41), ("g_loss", 42)):
    CASES.append(tp.Case("gan_" + obj, tp._pt("gan.nn"), lambda o=obj: Gan(o), batch_gan,
                         lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.5, 0.999)), seed=seed,
                         nnc_args=["--objective", obj]))

# the one-file build: the same steps through its parts
for obj, seed in (("d_loss", 43), ("g_loss", 44)):
    case = tp.Case("gan_one_" + obj, tp._pt("gan.nn"), lambda o=obj: Gan(o), batch_gan,
                   lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.5, 0.999)), seed=seed)
    case.prefix = "gan_" + obj
    CASES.append(case)
