// HistoryService: conversion between nibble::history types and the Qt value types, and the
// plumbing that brings answers from the reader pool and the writer thread back to the GUI thread.
#include "HistoryService.h"

#include <QDir>
#include <QFileInfo>
#include <QMap>

#include "EngineErrors.h"
#include "nibble/history.h"

namespace h = nibble::history;

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

ErrorInfo errorOf(const nibble::Error& e) { return toErrorInfo(e, ErrorInfo::Context::History); }

ConversationData toData(const h::Conversation& c, qint64 messageCount = 0) {
  ConversationData d;
  d.id = c.id;
  d.title = qs(c.title);
  d.pinned = c.pinned;
  d.createdAt = c.created_at;
  d.updatedAt = c.updated_at;
  d.systemPrompt = qs(c.system_prompt);
  d.modelRef = qs(c.model_ref);
  d.settingsJson = qs(c.settings_json);
  d.messageCount = messageCount;
  return d;
}

MessageData toData(const h::Message& m) {
  MessageData d;
  d.id = m.id;
  d.parentId = m.parent_id.value_or(0);
  d.role = qs(std::string(h::role_name(m.role)));
  d.content = qs(m.content);
  d.reasoning = qs(m.reasoning);
  d.status = qs(std::string(h::status_name(m.status)));
  d.error = qs(m.error);
  d.modelId = qs(m.model_id);
  d.metrics.promptTokens = m.metrics.prompt_tokens.value_or(-1);
  d.metrics.completionTokens = m.metrics.completion_tokens.value_or(-1);
  d.metrics.timeToFirstTokenMs = m.metrics.time_to_first_token_ms.value_or(-1);
  d.metrics.prefillTokensPerSecond = m.metrics.prefill_tokens_per_s.value_or(-1);
  d.metrics.decodeTokensPerSecond = m.metrics.decode_tokens_per_s.value_or(-1);
  d.createdAt = m.created_at;
  return d;
}

h::GenerationMetrics toMetrics(const MessageMetrics& m) {
  h::GenerationMetrics out;
  if (m.promptTokens >= 0) out.prompt_tokens = m.promptTokens;
  if (m.completionTokens >= 0) out.completion_tokens = m.completionTokens;
  if (m.timeToFirstTokenMs >= 0) out.time_to_first_token_ms = m.timeToFirstTokenMs;
  if (m.prefillTokensPerSecond >= 0) out.prefill_tokens_per_s = m.prefillTokensPerSecond;
  if (m.decodeTokensPerSecond >= 0) out.decode_tokens_per_s = m.decodeTokensPerSecond;
  return out;
}

ModelRecordData toData(const h::ModelRecord& r) {
  ModelRecordData d;
  d.id = r.id;
  d.path = qs(r.path);
  d.name = qs(r.name);
  d.format = qs(r.format);
  d.architecture = qs(r.architecture);
  d.quantization = qs(r.quantization);
  d.bitsPerWeight = r.bits_per_weight.value_or(0);
  d.parameters = r.parameter_count.value_or(0);
  d.contextLength = r.context_length.value_or(0);
  d.sizeBytes = r.size_bytes.value_or(0);
  d.lastUsedAt = r.last_used_at.value_or(0);
  return d;
}

// The snippet with its matched byte ranges in bold, HTML-escaped.
QString richSnippet(const h::HighlightedText& text) {
  QString out;
  std::size_t at = 0;
  for (const auto& [begin, end] : text.highlights) {
    if (begin < at || end > text.text.size() || begin > end) continue;
    out += qs(text.text.substr(at, begin - at)).toHtmlEscaped();
    out += QStringLiteral("<b>") + qs(text.text.substr(begin, end - begin)).toHtmlEscaped() + QStringLiteral("</b>");
    at = end;
  }
  out += qs(text.text.substr(at)).toHtmlEscaped();
  return out;
}

// The user's words as a store query: a trailing word of 3+ letters also matches as a prefix.
std::string searchQuery(const QString& typed) {
  QString q = typed.simplified();
  const qsizetype space = q.lastIndexOf(QLatin1Char(' '));
  const QString last = q.mid(space + 1);
  if (q.count(QLatin1Char('"')) % 2 == 0 && last.size() >= 3 && last.back().isLetterOrNumber())
    q += QLatin1Char('*');
  return q.toStdString();
}

ErrorInfo unavailable(const ErrorInfo& openError) {
  return openError.isError() ? openError
                             : ErrorInfo::make(ErrorKinds::Io, QStringLiteral("the history is not open"),
                                               ErrorInfo::Context::History);
}

}  // namespace

HistoryService::HistoryService(const QString& path, const Options& options, QObject* parent)
    : QObject(parent), m_path(path) {
  qRegisterMetaType<ErrorInfo>();
  m_readers.setMaxThreadCount(2);
  const QFileInfo file(path);
  QDir().mkpath(file.absolutePath());
  m_lock = std::make_unique<QLockFile>(file.absoluteFilePath() + QStringLiteral(".lock"));
  m_lock->setStaleLockTime(0);  // a lock is stale only when its process is gone, however old
  const bool owner = m_lock->tryLock(0);
  h::HistoryOptions o;
  o.recover_interrupted = options.recoverInterrupted && owner;
  o.durable_commits = options.durableCommits;
  o.flush_interval = std::chrono::milliseconds(options.flushIntervalMs);
  o.on_background_error = [this](const nibble::Error& e) {
    QMetaObject::invokeMethod(this, [this, info = errorOf(e)] { emit backgroundError(info); }, Qt::QueuedConnection);
  };
  auto store = h::HistoryStore::open(path.toStdString(), std::move(o));
  if (!store) {
    m_openError = errorOf(store.error());
    return;
  }
  m_store = std::move(*store);
  m_recovered = m_store->open_report().recovered_messages;
  m_readOnlyReason = QString::fromStdString(m_store->open_report().read_only_reason);
}

HistoryService::~HistoryService() {
  m_readers.waitForDone();
  if (m_store) (void)m_store->close();
  m_store.reset();
  if (m_lock && m_lock->isLocked()) m_lock->unlock();
}

QString HistoryService::defaultPath() { return QString::fromStdString(h::default_history_path()); }

bool HistoryService::readOnly() const { return m_store && m_store->read_only(); }

template <class T>
void HistoryService::deliver(QPointer<QObject> context, Callback<T> callback, T value, ErrorInfo error) {
  if (!callback) return;
  QMetaObject::invokeMethod(this, [context, callback = std::move(callback), value = std::move(value), error] {
    if (context) callback(value, error);
  }, Qt::QueuedConnection);
}

void HistoryService::deliverDone(QPointer<QObject> context, Done done, ErrorInfo error, bool conversations, bool models) {
  QMetaObject::invokeMethod(this, [this, context, done = std::move(done), error, conversations, models] {
    if (conversations && !error.isError()) emit conversationsChanged();
    if (models && !error.isError()) emit modelsChanged();
    if (context && done) done(error);
  }, Qt::QueuedConnection);
}

template <class Fn>
void HistoryService::read(Fn fn) {
  m_readers.start(std::move(fn));
}

// ---- Reads ----

void HistoryService::listConversations(bool trashed, QObject* context, Callback<QList<ConversationData>> callback) {
  if (!m_store) return deliver<QList<ConversationData>>(context, std::move(callback), {}, unavailable(m_openError));
  read([this, trashed, ctx = QPointer<QObject>(context), callback = std::move(callback)] {
    h::ListQuery q;
    q.filter = trashed ? h::ListFilter::trashed : h::ListFilter::active;
    q.limit = 500;
    auto page = m_store->list(q);
    QList<ConversationData> out;
    if (page)
      for (const auto& item : page->items) out.append(toData(item.conversation, item.message_count));
    deliver<QList<ConversationData>>(ctx, callback, out, page ? ErrorInfo{} : errorOf(page.error()));
  });
}

void HistoryService::search(const QString& query, QObject* context, Callback<QList<ConversationData>> callback) {
  if (!m_store) return deliver<QList<ConversationData>>(context, std::move(callback), {}, unavailable(m_openError));
  read([this, q = searchQuery(query), ctx = QPointer<QObject>(context), callback = std::move(callback)] {
    h::SearchOptions options;
    options.limit = 60;
    auto hits = m_store->search(q, options);
    QList<ConversationData> out;
    QMap<qint64, bool> seen;
    if (hits) {
      for (const auto& hit : *hits) {
        if (seen.contains(hit.conversation_id)) continue;
        seen.insert(hit.conversation_id, true);
        ConversationData d;
        d.id = hit.conversation_id;
        d.title = qs(hit.conversation_title);
        d.updatedAt = hit.created_at;
        d.snippet = richSnippet(hit.snippet);
        out.append(d);
      }
    }
    // A query the full-text syntax rejects is no error for a search box: it just matches nothing.
    deliver<QList<ConversationData>>(ctx, callback, out, {});
  });
}

void HistoryService::loadTree(qint64 conversationId, QObject* context, Callback<ConversationTreeData> callback) {
  if (!m_store) return deliver<ConversationTreeData>(context, std::move(callback), {}, unavailable(m_openError));
  read([this, conversationId, ctx = QPointer<QObject>(context), callback = std::move(callback)] {
    auto tree = m_store->tree(conversationId);
    ConversationTreeData out;
    if (tree) {
      out.conversation = toData(tree->conversation, static_cast<qint64>(tree->messages.size()));
      for (const h::Message* m : h::selected_path(*tree)) {
        MessageData d = toData(*m);
        for (const h::Message* s : h::siblings(*tree, m->id)) d.siblingIds.append(s->id);
        out.path.append(d);
      }
    }
    deliver<ConversationTreeData>(ctx, callback, out, tree ? ErrorInfo{} : errorOf(tree.error()));
  });
}

void HistoryService::listModels(QObject* context, Callback<QList<ModelRecordData>> callback) {
  if (!m_store) return deliver<QList<ModelRecordData>>(context, std::move(callback), {}, unavailable(m_openError));
  read([this, ctx = QPointer<QObject>(context), callback = std::move(callback)] {
    auto models = m_store->models();
    QList<ModelRecordData> out;
    if (models)
      for (const auto& r : *models) out.append(toData(r));
    deliver<QList<ModelRecordData>>(ctx, callback, out, models ? ErrorInfo{} : errorOf(models.error()));
  });
}

void HistoryService::retentionDays(QObject* context, Callback<int> callback) {
  if (!m_store) return deliver<int>(context, std::move(callback), 0, unavailable(m_openError));
  read([this, ctx = QPointer<QObject>(context), callback = std::move(callback)] {
    auto days = m_store->trash_retention_days();
    deliver<int>(ctx, callback, days ? *days : 0, days ? ErrorInfo{} : errorOf(days.error()));
  });
}

// ---- Writes ----

// Adapts a store write's `done` (writer thread) to deliverDone (GUI thread).
struct HistoryWriteDone {
  static h::HistoryStore::Done<void> make(HistoryService* service, QObject* context, HistoryService::Done done,
                                          bool conversations, bool models = false) {
    return [service, ctx = QPointer<QObject>(context), done = std::move(done), conversations,
            models](const nibble::Status& st) {
      service->deliverDone(ctx, done, st.ok() ? ErrorInfo{} : errorOf(st.error()), conversations, models);
    };
  }
};

bool HistoryService::ready(QObject* context, Done& done) {
  if (m_store) return true;
  deliverDone(context, std::move(done), unavailable(m_openError), false, false);
  return false;
}
void HistoryService::createConversation(const ConversationData& c, QObject* context, Callback<qint64> callback) {
  if (!m_store) return deliver<qint64>(context, std::move(callback), 0, unavailable(m_openError));
  h::NewConversation n;
  n.title = c.title.toStdString();
  n.pinned = c.pinned;
  n.system_prompt = c.systemPrompt.toStdString();
  n.model_ref = c.modelRef.toStdString();
  n.settings_json = c.settingsJson.isEmpty() ? "{}" : c.settingsJson.toStdString();
  (void)m_store->create_conversation(std::move(n), [this, ctx = QPointer<QObject>(context), callback = std::move(callback)](
                                                       const nibble::Result<h::ConversationId>& r) {
    deliver<qint64>(ctx, callback, r ? *r : 0, r ? ErrorInfo{} : errorOf(r.error()));
    if (r) QMetaObject::invokeMethod(this, [this] { emit conversationsChanged(); }, Qt::QueuedConnection);
  });
}

void HistoryService::rename(qint64 id, const QString& title, QObject* context, Done done) {
  if (!ready(context, done)) return;
  (void)m_store->rename(id, title.toStdString(), HistoryWriteDone::make(this, context, std::move(done), true));
}

void HistoryService::setPinned(qint64 id, bool pinned, QObject* context, Done done) {
  if (!ready(context, done)) return;
  (void)m_store->set_pinned(id, pinned, HistoryWriteDone::make(this, context, std::move(done), true));
}

void HistoryService::setSystemPrompt(qint64 id, const QString& prompt, QObject* context, Done done) {
  if (!ready(context, done)) return;
  h::ConversationPatch patch;
  patch.system_prompt = prompt.toStdString();
  (void)m_store->update_conversation(id, std::move(patch), HistoryWriteDone::make(this, context, std::move(done), false));
}

void HistoryService::setSettingsJson(qint64 id, const QString& json, QObject* context, Done done) {
  if (!ready(context, done)) return;
  h::ConversationPatch patch;
  patch.settings_json = json.toStdString();
  (void)m_store->update_conversation(id, std::move(patch), HistoryWriteDone::make(this, context, std::move(done), false));
}

void HistoryService::moveToTrash(qint64 id, QObject* context, Done done) {
  if (!ready(context, done)) return;
  (void)m_store->move_to_trash(id, HistoryWriteDone::make(this, context, std::move(done), true));
}

void HistoryService::restore(qint64 id, QObject* context, Done done) {
  if (!ready(context, done)) return;
  (void)m_store->restore(id, HistoryWriteDone::make(this, context, std::move(done), true));
}

void HistoryService::addMessage(qint64 conversationId, const MessageData& m, QObject* context, Callback<qint64> callback) {
  if (!m_store) return deliver<qint64>(context, std::move(callback), 0, unavailable(m_openError));
  h::NewMessage n;
  n.conversation_id = conversationId;
  if (m.parentId > 0) n.parent_id = m.parentId;
  n.role = h::parse_role(m.role.toStdString()).value_or(h::Role::user);
  n.content = m.content.toStdString();
  n.reasoning = m.reasoning.toStdString();
  n.status = h::parse_status(m.status.toStdString()).value_or(h::MessageStatus::complete);
  n.model_id = m.modelId.toStdString();
  n.metrics = toMetrics(m.metrics);
  (void)m_store->add_message(std::move(n), [this, ctx = QPointer<QObject>(context), callback = std::move(callback)](
                                               const nibble::Result<h::MessageId>& r) {
    deliver<qint64>(ctx, callback, r ? *r : 0, r ? ErrorInfo{} : errorOf(r.error()));
    if (r) QMetaObject::invokeMethod(this, [this] { emit conversationsChanged(); }, Qt::QueuedConnection);
  });
}

void HistoryService::selectBranch(qint64 messageId, QObject* context, Done done) {
  if (!ready(context, done)) return;
  (void)m_store->select_branch(messageId, HistoryWriteDone::make(this, context, std::move(done), false));
}

void HistoryService::appendDelta(qint64 messageId, const QString& content, const QString& reasoning) {
  if (!m_store || messageId <= 0) return;
  if (!content.isEmpty()) m_store->append_delta(messageId, content.toStdString(), h::DeltaField::content);
  if (!reasoning.isEmpty()) m_store->append_delta(messageId, reasoning.toStdString(), h::DeltaField::reasoning);
}

void HistoryService::finishMessage(qint64 messageId, const QString& status, const QString& error,
                                   const MessageMetrics& metrics, QObject* context, Done done) {
  if (!ready(context, done)) return;
  h::MessageFinish f;
  f.status = h::parse_status(status.toStdString()).value_or(h::MessageStatus::complete);
  f.error = error.toStdString();
  f.metrics = toMetrics(metrics);
  (void)m_store->finish_message(messageId, std::move(f), HistoryWriteDone::make(this, context, std::move(done), true));
}

void HistoryService::upsertModel(const ModelRecordData& model, QObject* context, Callback<qint64> callback) {
  if (!m_store) return deliver<qint64>(context, std::move(callback), 0, unavailable(m_openError));
  h::ModelRecord r;
  r.path = model.path.toStdString();
  r.name = model.name.toStdString();
  r.format = model.format.toStdString();
  r.architecture = model.architecture.toStdString();
  r.quantization = model.quantization.toStdString();
  if (model.bitsPerWeight > 0) r.bits_per_weight = model.bitsPerWeight;
  if (model.parameters > 0) r.parameter_count = model.parameters;
  if (model.contextLength > 0) r.context_length = model.contextLength;
  if (model.sizeBytes > 0) r.size_bytes = model.sizeBytes;
  if (model.lastUsedAt > 0) r.last_used_at = model.lastUsedAt;
  (void)m_store->upsert_model(std::move(r), [this, ctx = QPointer<QObject>(context), callback = std::move(callback)](
                                                const nibble::Result<h::ModelId>& res) {
    deliver<qint64>(ctx, callback, res ? *res : 0, res ? ErrorInfo{} : errorOf(res.error()));
    if (res) QMetaObject::invokeMethod(this, [this] { emit modelsChanged(); }, Qt::QueuedConnection);
  });
}

void HistoryService::removeModel(qint64 id, QObject* context, Done done) {
  if (!ready(context, done)) return;
  (void)m_store->remove_model(id, HistoryWriteDone::make(this, context, std::move(done), false, true));
}

void HistoryService::setRetentionDays(int days, QObject* context, Done done) {
  if (!ready(context, done)) return;
  (void)m_store->set_trash_retention_days(days, HistoryWriteDone::make(this, context, std::move(done), false));
}

void HistoryService::flush(QObject* context, Done done) {
  if (!ready(context, done)) return;
  auto future = std::make_shared<std::future<nibble::Status>>();
  // flush() has no `done`: wait for its future on a reader thread instead.
  *future = m_store->flush();
  read([this, future, ctx = QPointer<QObject>(context), done = std::move(done)]() mutable {
    const nibble::Status st = future->get();
    deliverDone(ctx, std::move(done), st.ok() ? ErrorInfo{} : errorOf(st.error()), false, false);
  });
}
