import torch, torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

# Data
X = torch.randn(1000, 20)
y = torch.randint(0, 3, (1000,))
ds = TensorDataset(X, y)
train_ds, val_ds = torch.utils.data.random_split(ds, [800, 200])
train_dl = DataLoader(train_ds, batch_size=32, shuffle=True)
val_dl = DataLoader(val_ds, batch_size=32)

# Model
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(20, 64), nn.ReLU(),
            nn.Linear(64, 32), nn.ReLU(),
            nn.Linear(32, 3))
    def forward(self, x): return self.net(x)

device = "cuda" if torch.cuda.is_available() else "cpu"
model = Net().to(device)
crit = nn.CrossEntropyLoss()
optim = torch.optim.Adam(model.parameters())

# Loop
for epoch in range(10):
    model.train(); tloss = 0
    for Xb, yb in train_dl:
        Xb, yb = Xb.to(device), yb.to(device)
        loss = crit(model(Xb), yb)
        optim.zero_grad(); loss.backward()
        optim.step(); tloss += loss.item()
    model.eval(); correct = 0
    with torch.no_grad():
        for Xb, yb in val_dl:
            Xb, yb = Xb.to(device), yb.to(device)
            correct += (model(Xb).argmax(1) == yb).sum().item()
    print(f"Ep{epoch+1} Loss:{tloss/len(train_dl):.3f} Acc:{correct/200:.3f}")

torch.save(model.state_dict(), "model.pth")
