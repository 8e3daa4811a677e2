// QuantizeService: runs the EXL2 quantizer (engine/quant) for the GUI on its own worker thread,
// never on the GUI thread: one job at a time, with progress (stage, layer i/n, ETA, elapsed, the
// latest error figures), cancel (an atomic flag the job reads between units of work), and resume
// of an unfinished job from the record it leaves in the output folder. After the job it measures
// perplexity before and after on the bundled evaluation text. Unfinished jobs are remembered in
// the settings ("quantize/jobs") and offered again on the next start. Also checks a source folder
// and predicts the quantized size and memory. Built by AppGraph; used by the QuantizeWizard.
#pragma once

#include <atomic>
#include <memory>

#include <QObject>
#include <QThread>
#include <QThreadPool>
#include <QVariantList>
#include <QVariantMap>

#include "ErrorInfo.h"
#include "MemoryEstimate.h"

class AppSettings;

// One job's settings (what the wizard collects); also what is remembered for a resume.
struct QuantJobSettings {
  QString input;                  // fp16/bf16 Hugging Face model folder
  QString output;                 // created; empty, absent or holding this job's record
  double bits = 4.0;              // 2.0 to 8.0
  int headBits = 6;               // 2, 3, 4, 5, 6 or 8
  QString calibrationFile;        // "" = the bundled set
  int rows = 100;                 // calibration rows
  int length = 2048;              // tokens per row
  int measurementRows = 0;        // 0 = min(rows, 16)
  QString measurementFile;        // reused when it exists, else written there ("" = none)
  QString device = QStringLiteral("auto");  // the quantizer's device: auto = cuda:0 when usable
  unsigned threads = 0;           // 0 = one per core
  int evalWindows = 16;           // perplexity before/after: windows x evalLength tokens (0 windows = skip)
  int evalLength = 512;

  QVariantMap toMap() const;
  static QuantJobSettings fromMap(const QVariantMap& map);
};

// What the wizard shows about a source folder before any work (from the safetensors headers).
struct QuantSourceCheck {
  bool ok = false;
  ErrorInfo error;                // why it cannot be quantized
  QString format;                 // "fp16", "bf16", "exl2", ...
  qint64 decoderWeights = 0;      // weights of the decoder linears (what bpw counts over)
  qint64 headWeights = 0;         // lm_head
  qint64 otherBytes = 0;          // embeddings and norms, kept in fp16
  ModelShape shape;
};

// The predicted size of the quantized files, and the memory to run them at `context` tokens with
// `cacheType` on `device`. The memory part is the bridge's MemoryEstimate for now; engine/plan's
// VRAM plan replaces it behind this one function.
qint64 predictQuantizedBytes(const QuantSourceCheck& source, double bits, int headBits);
MemoryEstimate predictRunMemory(const QuantSourceCheck& source, qint64 quantizedBytes, const QString& device,
                                const QString& cacheType, int context);

class QuantizeService : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool running READ running NOTIFY runningChanged)
  Q_PROPERTY(QVariantMap progress READ progress NOTIFY progressChanged)

 public:
  explicit QuantizeService(AppSettings* settings, QObject* parent = nullptr);
  ~QuantizeService() override;  // cancels a running job (its record stays resumable) and joins the thread

  bool running() const { return m_running; }
  // {stage, stageName, layer, layers, fraction, elapsedS, etaS, elapsedText, etaText, message,
  //  errorText (the latest "error ..." figure of the log line), log (recent lines)}
  QVariantMap progress() const { return m_progress; }

  // Starts a job; false (and failed()) when one is running. A folder holding this job's record resumes.
  bool start(const QuantJobSettings& settings);
  // Stops the job at the next unit of work: failed() with ErrorKinds::Cancelled; the record stays.
  void cancel();

  // Checks a source folder off the GUI thread: sourceChecked(serial, check) on the GUI thread.
  int checkSource(const QString& folder);
  // The measurement file the service keeps for a model folder (reused on the next job for it).
  static QString measurementPathFor(const QString& modelFolder);
  // Where a job can run: [{id: "auto"|"cpu"|"cuda:N", label}], "auto" first (cuda:0 when a GPU is
  // usable, else the CPU), then the CPU, then each GPU the CUDA backend sees.
  static QVariantList deviceChoices();
  // True when `output` holds an unfinished job record.
  static bool hasJobRecord(const QString& output);
  // Free bytes on the volume that would hold `path` (its nearest existing parent), -1 when unknown.
  static qint64 freeBytesFor(const QString& path);
  // Remembered unfinished jobs whose record still exists: [QuantJobSettings::toMap()].
  QVariantList resumableJobs() const;
  void forgetJob(const QString& output);
  // Tests: the next job cancels itself from its own thread when it reports `stage` ("validate",
  // "calibration", "measure", "allocate", "quantize", "head", "write", "evaluate"); "" = off.
  void setCancelAtStage(const QString& stage) { m_cancelAtStage = stage; }

 signals:
  void runningChanged();
  void progressChanged();
  void sourceChecked(int serial, const QuantSourceCheck& check);
  // `result`: {bitsPerWeight, headBitsPerWeight, decoderWeights, calibrationPpl, calibrationPplFp,
  //  evalPplBefore, evalPplAfter, evalTokens, sizeBytes, sizeText, totalSeconds, resumedStage,
  //  resumedAtLayer, measurementReused, files, reportPath, output, input, layers, stageSeconds}
  void finished(const QVariantMap& result);
  void failed(const ErrorInfo& error);
  void resumableJobsChanged();

 private:
  void rememberJob(const QuantJobSettings& settings);
  void onProgress(const QVariantMap& progress);
  void onEnded(const QVariantMap& result, const ErrorInfo& error, const QString& output);

  AppSettings* m_settings;
  std::shared_ptr<std::atomic<bool>> m_cancel;
  bool m_running = false;
  QVariantMap m_progress;
  QStringList m_log;
  int m_serial = 0;
  QString m_cancelAtStage;
  QuantJobSettings m_job;        // the running job's settings
  bool m_jobRemembered = false;  // added to the resumable list once its record exists
  QThread m_thread;
  QObject* m_worker = nullptr;  // lives on m_thread; runs the job's closure
  QThreadPool m_pool;           // source checks
};

Q_DECLARE_METATYPE(QuantSourceCheck)
