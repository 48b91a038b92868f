"""中文教学文本（``gradtop demo --lang zh``），与 ``en.py`` 的键和占位符一一对应。"""

from __future__ import annotations

BASICS = (
    "网络是怎样学习的：梯度下降让每个权重沿梯度的反方向移动，x_{n+1} = x_n - λ∇F(x_n)，"
    "其中 λ 是学习率。如果某个权重的梯度约等于 0，它就不会移动，网络的这一部分也就停止了学习。\n"
    "反向传播用链式法则求前面各层的梯度：它是一个连乘积，上面的每一层贡献一个因子，"
    "∂L/∂W₁ = ∂L/∂h_L · ∂h_L/∂h_(L-1) ⋯ ∂h_2/∂h_1 · ∂h_1/∂W₁。"
    "如果这些因子都小于 1，乘积会随深度按指数衰减（梯度消失）；如果都大于 1，乘积会按指数增长"
    "（梯度爆炸）。Sigmoid 的导数最大只有 0.25，19 层 Sigmoid 可以把梯度缩小到 "
    "0.25^19 ≈ 4e-12。"
)

SCENARIOS: dict[str, dict[str, str]] = {
    "vanishing": {
        "title": "梯度消失",
        "line": "20 层 Sigmoid 全连接网络、默认初始化：最前面几层只拿到约 1e-15 的梯度，根本学不动",
        "see": "损失一直停在 2.30 附近，也就是 ln 10——在 10 个类别里瞎猜的损失。"
        "在层表中，|grad| 一列从输出端（下方）到输入端（上方）下降了好多个数量级，"
        "深度分布图在输入一侧几乎是平的。gradtop 报告“梯度消失”，并指出是哪几层。",
        "why": "梯度每反向穿过一层 Sigmoid，就要乘上 σ'(z) ≤ 0.25，再乘上这一层的权重，"
        "而 PyTorch 的默认初始化让权重偏小（Var(W) = 1/(3·fan_in)）。19 层乘下来大约是 1e-15。"
        "代入 x_{n+1} = x_n - λ∇F(x_n)，前几层每一步几乎不动：它们始终是随机的，"
        "上面的各层只能从噪声里学习。",
        "fix": "让链式法则里的每个因子都接近 1：ReLU（斜率为 1）配合 He 初始化；"
        "或者加 BatchNorm，让 Sigmoid 的输入保持在斜率最大的中间区域；"
        "或者加残差连接，给梯度一条绕过每一层的通路。",
    },
    "exploding": {
        "title": "梯度爆炸（初始化）",
        "line": "8 层 ReLU 网络，权重取 N(0,1)，SGD 学习率 1："
        "第 0 步的损失就是天文数字，紧接着变成 NaN",
        "see": "第一步的损失就大得离谱，一两步之后变成 NaN（不是数）。"
        "gradtop 在第 1 步、第一个 NaN 出现之前就报告“梯度爆炸”，原因是“初始化”，"
        "随后报告 NaN/Inf。",
        "why": "从 N(0, 1) 取的权重方差是 1，是 He 初始化对 64 个输入所用方差 2/64 的 32 倍。"
        "于是每一层 ReLU 都把信号和梯度放大约 √32 ≈ 5.7 倍，8 层下来约 1e6 倍。"
        "学习率 λ = 1 时，第一步 x - λ∇F 就把权重甩到极大的值，下一次前向计算溢出成 Inf 和 NaN。",
        "fix": "用 He 初始化（Var(W) = 2/fan_in），同时用适合 SGD 的学习率（这里是 0.05），"
        "两者缺一不可。只做梯度裁剪虽然不出 NaN，却掩盖了问题：网络还是什么都学不到。",
    },
    "exploding_lr": {
        "title": "梯度爆炸（学习率）",
        "line": "4 层 ReLU 网络，普通 SGD、学习率 2：每一步都冲得更远，直到损失变成 NaN",
        "see": "损失先下降，然后上升、跳变，大约 15 步后变成 NaN。"
        "gradtop 在 NaN 出现前几步就报告“梯度爆炸”和“学习率过高”：警告来得及时，还来得及停下。",
        "why": "x_{n+1} = x_n - λ∇F(x_n) 的步长是 λ 乘以梯度。当 λ 大于约 2 除以损失的曲率时，"
        "每一步都会越过最小值，落到对面更高的地方，那里的梯度更大：误差按指数增长。",
        "fix": "降低学习率（2 → 0.1），或者裁剪梯度范数，限制每一步的长度。",
    },
    "exploding_rnn": {
        "title": "沿时间的梯度爆炸（RNN）",
        "line": "tanh RNN 展开 100 个时间步，循环权重增益为 2：沿时间回传的梯度放大约 1e6 倍",
        "see": "第一步的梯度范数就在 1e6 左右。这样一次更新让几乎所有 tanh 单元进入饱和区："
        "它们的梯度变成恰好为 0（“饱和单元”），损失停在瞎猜的水平。",
        "why": "RNN 在每个时间步都使用同一个矩阵 W_hh，所以沿 100 个时间步反向传播，"
        "就要乘上 100 次 W_hh。增益为 2 的正交矩阵在 tanh 没有饱和的每一步都把梯度翻倍："
        "光是 2^20 就约等于 1e6。",
        "fix": "让循环权重的增益保持为 1（正交初始化），或者改用 LSTM、GRU。"
        "梯度裁剪能控制住破坏（不会一步把单元推进饱和区），但 gradtop 记录的是裁剪前的梯度，"
        "所以仍然看得到爆炸。",
    },
    "dead_relu": {
        "title": "ReLU 神经元死亡",
        "line": "8 层 ReLU 网络，所有偏置都设为 -3：所有单元输出 0，没有任何梯度流过",
        "see": "损失从一开始就纹丝不动。表中每一个 |grad| 都恰好是 0，zero 一列是 100%，"
        "gradtop 在第 20 步报告“死亡单元”（严重）。",
        "why": "偏置为 -3 时，每个 ReLU 的输入 z = Wx + b 对所有样本都是负数，"
        "于是 ReLU(z) = 0，ReLU'(z) = 0。链式法则里这个因子恰好是 0：梯度为 0，"
        "x_{n+1} = x_n，什么都不会改变。",
        "fix": "把偏置重置为 0（或一个小的正数）。只换成 LeakyReLU 虽然能让单元“复活”，"
        "但每层 0.01 的斜率会让梯度消失：偏置还是得改。",
    },
    "lr_too_low": {
        "title": "学习率过低",
        "line": "4 层 ReLU 网络，Adam 学习率 1e-5：每次更新只有权重的十万分之几，损失几乎不动",
        "see": "损失几乎不变。梯度本身没问题，但 upd/w 一列（一步更新相对于权重大小的比例）"
        "在每一层都只有约 3e-5，远低于健康的 1e-3 左右。gradtop 报告“学习率过低”。",
        "why": "Adam 每一步让每个权重移动约 λ，与梯度大小无关。λ = 1e-5，而权重大小约 0.2，"
        "每步的相对变化只有十万分之几：要走到好的解需要几万步。",
        "fix": "把学习率提高到 1e-3（Adam 的默认值）：upd/w 升到 1e-3 左右，损失开始下降。",
    },
    "lr_too_high": {
        "title": "学习率过高",
        "line": "4 层 ReLU 网络，Adam 学习率 0.1：每次更新有权重本身的一半大",
        "see": "最初几次更新约为权重本身大小的一半（upd/w 约 0.5）。"
        "几步之内，某一层的大部分单元就死了。"
        "gradtop 在第 6 步报告“学习率过高”，随后报告“死亡单元”。",
        "why": "Adam 的步长约为每个权重 λ；λ = 0.1，而权重只有 0.2 左右，"
        "等于每一步都把权重改写一遍。"
        "这么大的跳跃会把一些 ReLU 的输入对所有样本都推到 0 以下，这些单元再也恢复不了。",
        "fix": "把学习率降到 1e-3。",
    },
    "frozen_layer": {
        "title": "被冻结的层",
        "line": "一个健康的 6 层 ReLU 网络，第一层用 requires_grad_(False) 冻结了",
        "see": "第一层没有梯度：表中显示“– frozen”。gradtop 把它作为提示而不是问题报告，"
        "并且在其他所有规则里都排除它（冻结的层不会被判为“梯度消失”）。",
        "why": "requires_grad=False 的参数得不到梯度，优化器也就从不改变它。"
        "有意微调时这正是你想要的；无意中发生则是一个 bug。",
        "fix": "如果是无意的：对该层调用 requires_grad_(True)，并确认优化器包含它的参数。",
    },
    "unused_layer": {
        "title": "forward 里从未调用的层",
        "line": "6 层 ReLU 网络，其中一层在 forward 里从未被调用：它的梯度一直是 None",
        "see": "有一层显示“∅ no grad”：它需要梯度，却从来没有拿到。gradtop 在 3 步后报告“无梯度”。",
        "why": "反向传播只会到达参与了损失计算的参数。建了却没用的层（或者输出被 detach 的层）"
        "的 .grad 一直是 None：优化器从不移动它。",
        "fix": "在 forward 里调用这一层，或者删掉它；"
        "检查它的路径上有没有 .detach() 或 torch.no_grad()。",
    },
    "healthy": {
        "title": "健康的梯度流",
        "line": "同样的 20 层网络，换成 ReLU、He 初始化并加上 BatchNorm：梯度能到达每一层",
        "see": "损失稳步下降。各层的 |grad| 彼此相差不超过十倍左右，深度分布图又高又平，"
        "upd/w 在 1e-3 附近。gradtop 没有任何警告。",
        "why": "每一处改动都让链式法则的因子保持在 1 附近：ReLU 对激活的单元斜率为 1，"
        "He 初始化让信号在层与层之间保持大小，BatchNorm 在每个批次上重新缩放每一层。",
        "fix": "无需修复：健康的网络就是这个样子。可以和 gradtop demo vanishing 对比一下。",
    },
    "transformer": {
        "title": "健康的小型 Transformer",
        "line": "2 层 pre-norm Transformer，用 Adam（学习率 1e-3）学习把序列倒过来",
        "see": "损失下降，注意力层和前馈层都拿到了梯度，gradtop 没有警告。"
        "批次中没有出现的词，其嵌入行的梯度恰好为 0；gradtop 知道这是正常的。",
        "why": "pre-norm（每个模块前先做 LayerNorm）和残差连接让梯度可以直接穿过每个模块，"
        "Adam 则把每一步缩放到梯度的典型大小。",
        "fix": "无需修复：这是健康 Transformer 的参考样子。",
    },
}

FIXES: dict[str, dict[str, str]] = {
    "relu": {
        "label": "ReLU",
        "what": "把 Sigmoid 换成 ReLU：对激活的单元，它的导数恰好是 1，激活函数不再缩小梯度。"
        "但在 PyTorch 默认初始化下，权重仍然在缩小梯度（每层把信号缩小到约 √(1/6)），"
        "而且很多单元不再输出：深度比 R 提高了好多个数量级，但前几层仍然拿不到梯度。"
        "下一步该改初始化了。",
    },
    "he_init": {
        "label": "He 初始化",
        "what": "He（Kaiming）初始化按 Var(W) = 2/fan_in 取权重。ReLU 会把大约一半的输入置零，"
        "这个方差恰好补偿了这一点：信号在层与层之间保持大小，前向、反向都一样，"
        "所以无论多深，链式法则的乘积都保持在 1 附近。",
    },
    "batchnorm": {
        "label": "BatchNorm",
        "what": "BatchNorm 在每个批次上把每一层激活函数的输入重新居中、缩放，"
        "让它们停留在激活函数斜率有用的区域（Sigmoid 在 0 附近最陡）。"
        "它还让深层网络对初始化和学习率都不那么敏感。",
    },
    "residual": {
        "label": "残差连接",
        "what": "残差（跳跃）连接计算 h + f(h) 而不是 f(h)。这样链式法则中每个模块的因子是 "
        "1 + ∂f/∂h 而不是 ∂f/∂h：梯度有一条直通第一层、不会缩小的通路。",
    },
    "lower_lr": {
        "label": "降低学习率",
        "what": "把 x_{n+1} = x_n - λ∇F(x_n) 中的步长 λ 调小。步子太大会越过最小值："
        "损失跳变、梯度出现尖峰，ReLU 单元还可能被推到对所有输入都输出 0 的地方。",
    },
    "raise_lr": {
        "label": "提高学习率",
        "what": "把步长 λ 调大。用 Adam 时每个权重每步大约移动 λ，所以学习率 1e-5 "
        "每步只改变权重大小的十万分之几；1e-3 是 Adam 常用的默认值。",
    },
    "clip": {
        "label": "梯度裁剪",
        "what": "梯度裁剪（torch.nn.utils.clip_grad_norm_）在梯度范数超过上限（这里是 1.0）时"
        "把整个梯度等比例缩小。它限制了每一步的长度，一个巨大的梯度不会一下子毁掉权重。"
        "它能控制爆炸，却消除不了原因：gradtop 记录的是裁剪前的范数，所以你仍然看得到。",
    },
    "gain_1": {
        "label": "增益 1",
        "what": "循环矩阵 W_hh 用增益 1 而不是 2 做正交初始化。这样乘上 100 次之后，"
        "梯度保持原来的大小，而不是每个时间步都翻倍。",
    },
    "bias_0": {
        "label": "偏置 0",
        "what": "把所有偏置从 -3 重置为 0，于是约一半的 ReLU 输入重新变为正数："
        "单元有了输出，斜率为 1，梯度得以流动。",
    },
    "leaky_relu": {
        "label": "LeakyReLU",
        "what": "LeakyReLU 对负输入的斜率是 0.01 而不是 0，所以“死掉”的单元仍能传回一点梯度。"
        "但偏置处处为 -3 时，每层都只乘 0.01：单元活了，梯度却消失了。",
    },
    "unfreeze": {
        "label": "解冻",
        "what": "对第一层调用 requires_grad_(True)：它重新得到梯度，优化器也会更新它。",
    },
    "use_layer": {
        "label": "删除未用层",
        "what": "删掉 forward 从未调用的那一层，剩下的每个参数都参与损失计算、都能拿到梯度。",
    },
}

# Keys: the texts keys of gradtop.diagnosis.kinds, the same as en.KINDS.
KINDS: dict[str, str] = {
    "vanishing": "梯度消失",
    "exploding": "梯度爆炸",
    "grad_spike": "梯度尖峰",
    "nonfinite": "NaN/Inf",
    "dead_units": "死亡单元",
    "no_grad": "无梯度",
    "frozen": "冻结的层",
    "not_in_optimizer": "不在优化器中",
    "lr_too_high": "学习率过高",
    "lr_too_low": "学习率过低",
    "loss_divergence": "损失发散",
    "no_update": "权重收不到更新",
    "zero_grad_missing": "缺少 zero_grad",
    "over_clipped": "裁剪过度",
    "lr_collapsed": "学习率骤降",
    "weight_collapse": "权重坍缩",
    "fp16_underflow": "fp16 下溢",
    "loss_plateau": "损失停滞",
}

UI: dict[str, str] = {
    "lesson": "gradtop 演示",
    "broken": "原始网络",
    "watching": "训练中……请观察损失曲线和 |grad| 列（已训练 {steps} 步）。",
    "sick": "gradtop 发现：{kinds}。",
    "sick_earlier": "gradtop 在本次运行的前段发现过：{kinds}（之后已消除）。",
    "earlier": "（之前：{kinds}）",
    "healthy": "没有警告：这次运行是健康的。和上面几次运行对比一下。",
    "healthy_reference": "没有警告：这是一次健康的参考运行。",
    "healthy_first": "没有警告：这次运行是健康的。",
    "notes": "gradtop 提示（信息）：{kinds}。",
    "try": "试试 {keys}。",
    "try_headless": "下一步试试：",
    "or": " 或 ",
    "more_fixes": "原始网络的其他治法（先按 0）：{keys}。",
    "restarting": "正在用新的设置重新开始训练……",
    "starting": "正在开始训练……",
    "expect_clears": "预期：不再出现“{kinds}”。",
    "expect_softens": "预期：“{kinds}”减轻（不再是严重级别）。",
    "claim_ok": "✓ 符合预期：“{kinds}”不再出现。",
    "claim_soft_ok": "✓ 符合预期：“{kinds}”不再严重，但还没有治好。",
    "claim_bad": "✗ “{kinds}”仍然存在：按 t 看原因。",
    "claim_traded": "✓ “{kinds}”消失了，✗ 但出现了“{new}”：按 t 看原因。",
    "claim_soft_traded": "✓ “{kinds}”不再严重，✗ 但出现了“{new}”：按 t 看原因。",
    "finished": "本次训练已结束。",
    "loading": "gradtop demo：正在加载 PyTorch 并启动课程……",
    "error": "训练停止：{error}",
    "keys_hint": "0 原始网络   t 原理   c 其他演示   z English",
    "runs": "各次运行",
    "col_run": "运行",
    "col_changes": "改动",
    "col_profile": "输入→输出",
    "col_loss": "损失",
    "col_ratio": "R",
    "col_findings": "发现",
    "none_found": "✓ 无",
    "cut_short": "未及判断即已停止",
    "col_earlier": "之前：",
    "text_title": "原理（按 t 关闭）",
    "see": "你看到的现象",
    "why": "为什么会这样",
    "fix": "怎样修复",
    "basics": "背后的数学",
    "applied": "本次",
    "viewing_other": (
        "你正在查看第 #{number} 次运行；建议针对最新的第 #{newest} 次（按 r 回到最新）"
    ),
    "ratio_note": "R = 第一层的梯度 / 最后一个隐藏层的梯度（健康时约 0.1 到 10）",
    "picker_title": "选择一个演示（回车开始，Esc 取消）",
    "no_fixes": "（没有修复项：这是参考运行）",
    "progress": "第 {step:>5}/{steps} 步  损失 {loss}",
    "stopped_nonfinite": "训练在第 {done} 步后停止：损失自第 {first} 步起一直是 NaN/Inf，"
    "继续训练已没有意义",
    "writing": "写入 {path}",
    "saved": "运行记录保存在 {path}，可以用 gradtop watch {path} 再次打开",
    "removed": "演示的文件已删除（{path}）；用 --out FILE 可以保留",
    "changes": "改动",
    "no_torch": "gradtop demo 需要训练小型 PyTorch 模型，但没有安装 torch。\n"
    '请用以下命令安装：pip install "gradtop-live[torch]"',
    "list_title": "演示列表（gradtop demo 名称；加 --no-ui 在无界面模式下训练）：",
    "list_fixes": "修复项：",
    "next_cmd": "下一步：{cmd}",
}
