// PlacementModel (the model card's plan) on the demo model with injected devices (fake GPUs with
// given free bytes, as a machine without a GPU can still plan for one): ranges in layer order
// covering every layer, the manual split moving layers between GPUs, the CPU slider putting
// exactly N layers on the CPU, a setup too small for the model giving advice and no load, every
// layer shared between two GPUs (tensor parallelism). Byte
// figures are checked against engine/plan's own per-segment counts, the spec the view shows.
#include <QSignalSpy>
#include <QtTest>

#include <memory>

#include "PlacementModel.h"
#include "nibble/plan.h"

namespace {

const QString kDemo = QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m");
constexpr qint64 kHostRam = 16'000'000'000;

QVariantMap device(const QString& id, const QString& name, qint64 freeBytes) {
  return {{QStringLiteral("id"), id}, {QStringLiteral("name"), name}, {QStringLiteral("freeBytes"), freeBytes}};
}

QVariantMap cpu(qint64 freeBytes = kHostRam) { return device(QStringLiteral("cpu"), QStringLiteral("CPU"), freeBytes); }

// The rows cover [0, layers) in order without gaps; returns "" or what is wrong.
QString coverageProblem(const PlacementModel& m) {
  int next = 0;
  int heads = 0;
  for (const PlacementModel::Row& r : m.rows()) {
    if (r.firstLayer != next) return QStringLiteral("%1 starts at %2, expected %3").arg(r.device).arg(r.firstLayer).arg(next);
    if (r.lastLayer < r.firstLayer) return QStringLiteral("%1 has an inverted range").arg(r.device);
    next = r.lastLayer;
    heads += r.head ? 1 : 0;
  }
  if (next != m.layerCount()) return QStringLiteral("the rows end at layer %1 of %2").arg(next).arg(m.layerCount());
  if (heads != 1) return QStringLiteral("%1 rows hold the head").arg(heads);
  if (m.rows().empty() || !m.rows().front().embedding) return QStringLiteral("the first row lacks the embedding");
  // The load ranges are the rows' ranges.
  QList<LayerRange> expected;
  for (const PlacementModel::Row& r : m.rows())
    if (r.lastLayer > r.firstLayer) expected.append({r.device, r.firstLayer, r.lastLayer});
  QList<LayerRange> got;
  for (const LayerRange& r : m.layerRanges())
    if (r.lastLayer > r.firstLayer) got.append(r);
  if (got.isEmpty() || got.front().firstLayer != 0 || got.back().lastLayer != m.layerCount())
    return QStringLiteral("the load ranges do not cover every layer");
  for (qsizetype i = 1; i < got.size(); ++i)
    if (got[i].firstLayer != got[i - 1].lastLayer) return QStringLiteral("the load ranges have a gap");
  // Same devices in the same order (a device's consecutive ranges may be merged or not).
  QStringList a, b;
  for (const auto& r : expected) if (a.isEmpty() || a.back() != r.device) a << r.device;
  for (const auto& r : got) if (b.isEmpty() || b.back() != r.device) b << r.device;
  if (a != b) return QStringLiteral("load ranges on %1, rows on %2").arg(b.join(','), a.join(','));
  return {};
}

const PlacementModel::Row* rowOf(const PlacementModel& m, const QString& device) {
  for (const PlacementModel::Row& r : m.rows())
    if (r.device == device) return &r;
  return nullptr;
}

int layersOn(const PlacementModel& m, const QString& device) {
  int n = 0;
  for (const PlacementModel::Row& r : m.rows())
    if (r.device == device) n += r.lastLayer - r.firstLayer;
  return n;
}

}  // namespace

class TestPlacementModel : public QObject {
  Q_OBJECT

  std::shared_ptr<const nibble::MemoryPlanner> planner;
  nibble::PlanOptions options;  // what the model asks for by default: 4096 tokens -> the model's 2048, fp16
  std::size_t runtime = 0;      // the CUDA runtime allowance per GPU
  std::size_t reserve = 500'000'000;

  // CUDA bytes of layers [first, last) as one segment.
  std::size_t cuda(int first, int last, bool embedding, bool head) const {
    return planner->segment(options, first, last, embedding, head).cuda.total();
  }

  void setUp(PlacementModel& m, const QVariantList& devices) {
    m.setPlanner(planner);
    m.setDevices(devices);
    m.setContext(2048);
    m.setCacheType(QStringLiteral("fp16"));
    m.setReserveGb(static_cast<double>(reserve) / 1e9);
  }

 private slots:
  void initTestCase() {
    auto p = nibble::MemoryPlanner::open(kDemo.toStdString());
    QVERIFY2(p.ok(), p ? "" : p.error().to_string().c_str());
    planner = std::make_shared<const nibble::MemoryPlanner>(std::move(*p));
    QCOMPARE(planner->layers(), 8);
    options.context = 2048;
    options.page_size = 64;
    options.max_batch_tokens = 512;
    auto plan = planner->plan(options);
    QVERIFY(plan.ok());
    runtime = plan->cuda_runtime_overhead;
  }

  // No GPU (the CPU build): one CPU row with everything, the bytes the CPU backend allocates.
  void cpuOnlyHoldsTheWholeModel() {
    PlacementModel m;
    QSignalSpy changed(&m, &PlacementModel::planChanged);
    QVERIFY(!m.ready());
    setUp(m, {cpu()});
    QVERIFY(changed.count() >= 1);
    QVERIFY2(m.ready(), qPrintable(m.error()));
    QVERIFY(m.fits());
    QCOMPARE(m.target(), QStringLiteral("cpu"));
    QCOMPARE(m.gpus().size(), 0);
    QCOMPARE(m.targets().size(), 1);
    QCOMPARE(m.rowCount(), 1);
    QCOMPARE(coverageProblem(m), QString());
    const PlacementModel::Row r = m.rows().front();  // a copy: re-planning replaces the rows
    QCOMPARE(r.device, QStringLiteral("cpu"));
    QVERIFY(!r.isGpu);
    QCOMPARE(r.reserve, 0);
    const nibble::MemorySplit expected = planner->segment(options, 0, 8, true, true).cpu;
    QCOMPARE(r.weights, qint64(expected.weights));
    QCOMPARE(r.kvCache, qint64(expected.kv_cache));
    QCOMPARE(r.scratch, qint64(expected.scratch));
    QCOMPARE(r.freeBytes, kHostRam);
    QCOMPARE(r.unused, kHostRam - r.needed);
    QCOMPARE(m.resultContext(), 2048);
    QCOMPARE(r.layersText, QStringLiteral("embedding + layers 0–7 + head"));
    QCOMPARE(m.data(m.index(0), PlacementModel::LayersTextRole).toString(), r.layersText);
    QCOMPARE(m.ranges().size(), 1);
    QCOMPARE(m.ranges().front().toMap().value(QStringLiteral("device")).toString(), QStringLiteral("cpu"));
    // A q4 cache needs less KV memory than fp16 (fp32 on the CPU) at the same context.
    m.setCacheType(QStringLiteral("q4"));
    QVERIFY(m.rows().front().kvCache < r.kvCache);
  }

  // Two GPUs that together hold about half the layers: GPUs in order after the CPU's first
  // layers, all eight layers covered once, each GPU within free - reserve.
  void twoSmallGpusSplitInOrder() {
    const std::size_t layer = cuda(0, 2, false, false) - cuda(0, 1, false, false);
    QVERIFY(layer > 0);
    // Each GPU: two layers' room (and the head on the last), the runtime allowance and the reserve.
    const qint64 gpu0 = qint64(reserve + runtime + cuda(0, 2, false, false) + layer / 2);
    const qint64 gpu1 = qint64(reserve + runtime + cuda(6, 8, false, true) + layer / 2);
    // Together they cannot take the whole model.
    QVERIFY(gpu0 + gpu1 < qint64(2 * (reserve + runtime) + cuda(0, 8, false, true)));
    PlacementModel m;
    setUp(m, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU A"), gpu0),
              device(QStringLiteral("cuda:1"), QStringLiteral("Fake GPU B"), gpu1), cpu()});
    QCOMPARE(m.target(), QStringLiteral("gpus"));
    QCOMPARE(m.gpus().size(), 2);
    QCOMPARE(m.targets().size(), 4);  // all GPUs, each GPU, the CPU only
    QVERIFY2(m.ready(), qPrintable(m.error()));
    QVERIFY2(m.fits(), qPrintable(m.advice().join('\n')));
    QCOMPARE(coverageProblem(m), QString());
    const auto* c0 = rowOf(m, QStringLiteral("cuda:0"));
    const auto* c1 = rowOf(m, QStringLiteral("cuda:1"));
    const auto* host = rowOf(m, QStringLiteral("cpu"));
    QVERIFY(c0 && c1 && host);
    // Layer order: CPU first (it takes the first layers), then cuda:0, then cuda:1 with the head.
    QVERIFY(host->lastLayer <= c0->firstLayer);
    QVERIFY(c0->lastLayer <= c1->firstLayer);
    QVERIFY(c1->head);
    QCOMPARE(m.cpuLayerCount(), layersOn(m, QStringLiteral("cpu")));
    QVERIFY(m.cpuLayerCount() > 0);
    QCOMPARE(layersOn(m, QStringLiteral("cuda:0")) + layersOn(m, QStringLiteral("cuda:1")) + m.cpuLayerCount(), 8);
    QVERIFY(layersOn(m, QStringLiteral("cuda:0")) >= 1);
    QVERIFY(layersOn(m, QStringLiteral("cuda:1")) >= 1);
    for (const auto* r : {c0, c1}) {
      QVERIFY(r->isGpu);
      QCOMPARE(r->reserve, qint64(reserve));
      QCOMPARE(r->budget, r->freeBytes - qint64(reserve));
      QVERIFY2(r->needed <= r->budget, qPrintable(r->device));
      QCOMPARE(r->needed, r->weights + r->kvCache + r->scratch);  // scratch shown with the runtime allowance
      QCOMPARE(r->runtime, qint64(runtime));
      QCOMPARE(r->unused, r->freeBytes - r->needed - r->reserve);
      QCOMPARE(r->scale, r->freeBytes);
      // The row's bytes are engine/plan's count of that segment on the CUDA backend.
      QCOMPARE(r->needed - r->runtime, qint64(cuda(r->firstLayer, r->lastLayer, r->embedding, r->head)));
    }
    QVERIFY(m.summary().contains(QStringLiteral("cuda:1")));

    // Never on the CPU: the GPUs cannot take it; the plan says what to change.
    m.setCpuLayers(0);
    QVERIFY(m.ready());
    QVERIFY(!m.fits());
    QVERIFY(!m.advice().isEmpty());
    QCOMPARE(layersOn(m, QStringLiteral("cpu")), 0);
    // One GPU only: the other is left out of the plan.
    m.setCpuLayers(-1);
    m.setTarget(QStringLiteral("cuda:1"));
    QCOMPARE(m.gpus().size(), 1);
    QVERIFY(!rowOf(m, QStringLiteral("cuda:0")));
    QVERIFY(rowOf(m, QStringLiteral("cuda:1")));
    QCOMPARE(coverageProblem(m), QString());
    // CPU only.
    m.setTarget(QStringLiteral("cpu"));
    QCOMPARE(m.rowCount(), 1);
    QCOMPARE(m.rows().front().device, QStringLiteral("cpu"));
  }

  // Manual: GB per GPU. A budget for k layers on cuda:0 puts k layers there, the rest on cuda:1;
  // a larger budget moves layers from cuda:1 to cuda:0.
  void manualSplitMovesLayersBetweenGpus() {
    const std::size_t layer = cuda(0, 2, false, false) - cuda(0, 1, false, false);
    PlacementModel m;
    setUp(m, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU A"), 8'000'000'000),
              device(QStringLiteral("cuda:1"), QStringLiteral("Fake GPU B"), 8'000'000'000), cpu()});
    // The manual fields start at free - reserve per GPU (tenths of a GB).
    QCOMPARE(m.gpuSplitGb().size(), 2);
    QCOMPARE(m.gpuSplitGb().at(0).toDouble(), 7.5);
    m.setMode(QStringLiteral("auto"));
    QVERIFY(m.fits());
    QCOMPARE(layersOn(m, QStringLiteral("cuda:0")), 8);  // auto fills cuda:0 first: it takes everything

    m.setMode(QStringLiteral("manual"));
    for (int k : {2, 5}) {
      const double gb = static_cast<double>(runtime + cuda(0, k, true, false) + layer / 2) / 1e9;
      m.setGpuSplit(0, gb);
      QVERIFY2(m.fits(), qPrintable(m.advice().join('\n')));
      QCOMPARE(coverageProblem(m), QString());
      QCOMPARE(layersOn(m, QStringLiteral("cuda:0")), k);
      QCOMPARE(layersOn(m, QStringLiteral("cuda:1")), 8 - k);
      QCOMPARE(m.cpuLayerCount(), 0);
      const auto* c0 = rowOf(m, QStringLiteral("cuda:0"));
      QVERIFY(c0);
      QCOMPARE(c0->budget, qint64(std::llround(gb * 1e9)));
      QVERIFY(c0->needed <= c0->budget);
    }
    // The split as a list (the QML binds to it).
    QCOMPARE(m.gpuSplitGb().at(1).toDouble(), 7.5);
    // Out-of-range indexes are ignored.
    m.setGpuSplit(5, 1.0);
    QCOMPARE(m.gpuSplitGb().size(), 2);
  }

  // The slider: N = exactly the first N layers on the CPU (with the embedding), the head on the
  // GPU while it holds layers (all N on the CPU: the head too); -1 = as needed (none here: the
  // GPU has room).
  void cpuSliderPutsExactlyNLayersOnTheCpu() {
    PlacementModel m;
    setUp(m, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU"), 8'000'000'000), cpu()});
    QCOMPARE(m.cpuLayers(), -1);
    QCOMPARE(m.cpuLayerCount(), 0);
    for (int n : {0, 1, 3, 7, 8}) {
      m.setCpuLayers(n);
      QCOMPARE(m.cpuLayers(), n);
      QVERIFY2(m.fits(), qPrintable(m.advice().join('\n')));
      QCOMPARE(coverageProblem(m), QString());
      QCOMPARE(m.cpuLayerCount(), n);
      QCOMPARE(layersOn(m, QStringLiteral("cpu")), n);
      QCOMPARE(layersOn(m, QStringLiteral("cuda:0")), 8 - n);
      const auto* host = rowOf(m, QStringLiteral("cpu"));
      if (n == 0) {
        QVERIFY(!host);
        continue;
      }
      QVERIFY(host);
      QCOMPARE(host->firstLayer, 0);
      QCOMPARE(host->lastLayer, n);
      QVERIFY(host->embedding);
      QCOMPARE(host->head, n == 8);
      if (n < 8) {
        QVERIFY(rowOf(m, QStringLiteral("cuda:0")));
        QVERIFY(rowOf(m, QStringLiteral("cuda:0"))->head);
      } else {
        QVERIFY(!rowOf(m, QStringLiteral("cuda:0")));
      }
      int cpuRanges = 0;
      for (const LayerRange& r : m.layerRanges())
        if (r.device == QLatin1String("cpu")) cpuRanges += r.lastLayer - r.firstLayer;
      QCOMPARE(cpuRanges, n);
    }
    m.setCpuLayers(99);  // clamped to the layer count
    QCOMPARE(m.cpuLayers(), 8);
  }

  // A GPU and host RAM too small for the model: no fit, advice to act on, the rows still shown.
  void tooSmallGivesAdvice() {
    PlacementModel m;
    setUp(m, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU"), qint64(reserve + runtime / 2)), cpu(4'000'000)});
    QVERIFY2(m.ready(), qPrintable(m.error()));
    QVERIFY(!m.fits());
    QVERIFY(!m.advice().isEmpty());
    for (const QString& line : m.advice()) QVERIFY(!line.trimmed().isEmpty());
    QVERIFY(m.rowCount() >= 1);
    bool someRowOver = false;
    for (const auto& r : m.rows()) someRowOver = someRowOver || !r.fits;
    QVERIFY(someRowOver);
  }

  // Fit context: the longest context that fits a GPU with room for a short one only.
  void fitContextShortensTheContext() {
    const qint64 free = qint64(reserve + runtime + cuda(0, 8, true, true));  // exactly 2048 tokens' worth
    nibble::PlanOptions shorter = options;
    shorter.context = 1024;
    const qint64 freeShort = qint64(reserve + runtime + planner->segment(shorter, 0, 8, true, true).cuda.total());
    QVERIFY(freeShort < free);
    PlacementModel m;
    setUp(m, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU"), freeShort), cpu()});
    m.setCpuLayers(0);
    QVERIFY(!m.fits());
    m.setMode(QStringLiteral("fit"));
    QVERIFY2(m.fits(), qPrintable(m.advice().join('\n')));
    QVERIFY(m.resultContext() >= 1024);
    QVERIFY(m.resultContext() < 2048);
    QCOMPARE(m.resultContext() % 64, 0);
  }

  // Sharing every layer (tensor parallelism) on two GPUs: one row per GPU over every layer, the
  // head on the first, each GPU holding less than the whole model and half its KV cache; the load
  // takes the GPUs, not ranges. On one GPU the mode falls back to a plain placement.
  void sharedModeSplitsEveryLayer() {
    PlacementModel m;
    setUp(m, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU A"), 8'000'000'000),
              device(QStringLiteral("cuda:1"), QStringLiteral("Fake GPU B"), 8'000'000'000), cpu()});
    m.setMode(QStringLiteral("shared"));
    QCOMPARE(m.mode(), QStringLiteral("shared"));
    QVERIFY2(m.fits(), qPrintable(m.advice().join('\n') + m.error()));
    QCOMPARE(m.rowCount(), 2);
    QVERIFY(m.layerRanges().isEmpty());
    QCOMPARE(m.tensorParallelDevices(), (QStringList{QStringLiteral("cuda:0"), QStringLiteral("cuda:1")}));
    const nibble::SegmentMemory whole = planner->segment(options, 0, 8, true, true);
    for (const PlacementModel::Row& r : m.rows()) {
      QCOMPARE(r.firstLayer, 0);
      QCOMPARE(r.lastLayer, 8);
      QCOMPARE(r.head, r.device == QStringLiteral("cuda:0"));
      QVERIFY(r.weights < qint64(whole.cuda.weights));
      QCOMPARE(r.kvCache, qint64(whole.cuda.kv_cache / 2));
      QVERIFY(r.layersText.contains(QStringLiteral("share")));
    }
    // Too little memory on each: advice, no load.
    PlacementModel small;
    setUp(small, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU A"), qint64(reserve + runtime)),
                  device(QStringLiteral("cuda:1"), QStringLiteral("Fake GPU B"), qint64(reserve + runtime)), cpu()});
    small.setMode(QStringLiteral("shared"));
    QVERIFY(small.ready());
    QVERIFY(!small.fits());
    QVERIFY(!small.advice().isEmpty());
    // One GPU: a plain placement.
    PlacementModel one;
    setUp(one, {device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU A"), 8'000'000'000), cpu()});
    one.setMode(QStringLiteral("shared"));
    QVERIFY(one.fits());
    QVERIFY(one.tensorParallelDevices().isEmpty());
    QCOMPARE(coverageProblem(one), QString());
  }

  void noPlannerNoPlan() {
    PlacementModel m;
    m.setDevices({cpu()});
    QVERIFY(!m.ready());
    QVERIFY(!m.fits());
    QCOMPARE(m.rowCount(), 0);
    QVERIFY(m.layerRanges().isEmpty());
    m.setPlanner(planner);
    QVERIFY(m.ready());
    m.setPlanner(nullptr);
    QVERIFY(!m.ready());
    QCOMPARE(m.rowCount(), 0);
  }
};

QTEST_GUILESS_MAIN(TestPlacementModel)
#include "test_placement_model.moc"
