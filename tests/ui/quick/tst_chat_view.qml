// The chat view's states, in order: no model, loading, ready and empty, typing, streaming (Stop),
// a finished reply with stats, a stopped one, and a stored conversation with Markdown, a code
// block with Copy, a collapsible reasoning block, "2/2" versions and a failed reply.
import QtQuick
import QtQuick.Controls
import QtTest
import Nibble.Bridge
import "qrc:/qt/qml/Nibble/Ui/qml"

Item {
    id: root
    width: 1000
    height: 720

    ChatView {
        id: view
        anchors.fill: parent
        chat: app.chat
        engine: app.engine
        presets: app.presets
        theme: app.theme
    }

    SignalSpy { id: loaded; target: app.engine; signalName: "modelLoaded" }
    SignalSpy { id: finished; target: app.chat; signalName: "replyFinished" }
    SignalSpy { id: opened; target: app.chat; signalName: "conversationLoaded" }

    TestCase {
        name: "ChatView"
        when: windowShown

        function item(name, parent) { return findChild(parent || view, name) }

        function type(text) {
            const input = item("composerInput")
            input.forceActiveFocus()
            input.text = ""
            // Letters and spaces through key events; anything else straight into the field.
            if (/^[A-Za-z ]*$/.test(text)) {
                for (let i = 0; i < text.length; ++i) keyClick(text[i])
            } else {
                input.text = text
            }
            compare(input.text, text)
        }

        function test_1_noModel() {
            compare(app.engine.modelState, EngineController.NoModel)
            verify(item("emptyState").visible)
            verify(!item("messageList").visible)
            compare(item("emptyTitle").text, "No model loaded")
            verify(!item("composerInput").enabled)
            verify(!item("sendButton").enabled)
        }

        function test_2_loadingThenReady() {
            app.openModel(testModelPath, "cpu", 0)
            compare(app.engine.modelState, EngineController.Loading)
            compare(item("emptyTitle").text, "Loading the model…")
            loaded.wait(60000)
            tryCompare(item("emptyTitle"), "text", "dictlm-16m is ready")
            verify(item("composerInput").enabled)
            verify(!item("sendButton").enabled)
        }

        function test_3_typingEnablesSend() {
            type("Define")
            tryCompare(item("sendButton"), "enabled", true)
            item("composerInput").text = "   "
            tryCompare(item("sendButton"), "enabled", false)
        }

        function test_4_streamingThenStopped() {
            testHelper.useLongReplies()
            type("Define kettle")
            finished.clear()
            keyClick(Qt.Key_Return)
            tryCompare(app.chat, "busy", true)
            compare(item("sendButton").text, "Stop")
            verify(item("sendButton").enabled)
            compare(item("composerInput").text, "")
            tryCompare(item("messageList"), "visible", true)
            verify(!item("emptyState").visible)
            tryVerify(() => item("message1") !== null && app.chat.messages.count === 2, 10000)
            tryVerify(() => app.engine.generating, 30000)
            mouseClick(item("sendButton"))
            finished.wait(30000)
            compare(finished.signalArguments[0][1], "interrupted")
            tryCompare(item("sendButton"), "text", "Send")
            tryVerify(() => item("messageStopped", item("message1")).visible)
        }

        function test_5_finishedReplyShowsStats() {
            testHelper.useShortReplies()
            app.chat.newChat()
            tryCompare(item("emptyState"), "visible", true)
            type("What does \"harbor\" mean?")
            finished.clear()
            keyClick(Qt.Key_Return)
            finished.wait(60000)
            compare(finished.signalArguments[0][1], "complete")
            const stats = item("messageStats", item("message1"))
            tryVerify(() => stats.visible)
            verify(stats.text.indexOf("tokens/s") >= 0, stats.text)
            verify(!item("messageError", item("message1")).visible)
        }

        function test_6_storedConversation() {
            opened.clear()
            app.chat.openConversation(seededConversation)
            opened.wait(10000)
            compare(app.chat.title, "Reversing a list")
            tryVerify(() => item("message1") !== null && item("message3") !== null)
            const reply = item("message1")
            // Reasoning: collapsed under its header, opens on click.
            const reasoning = item("reasoningBlock", reply)
            verify(reasoning.visible)
            compare(reasoning.expanded, false)
            verify(!item("reasoningText", reply).visible)
            mouseClick(item("reasoningToggle", reply))
            compare(reasoning.expanded, true)
            tryVerify(() => item("reasoningText", reply).visible)
            compare(item("reasoningText", reply).text, "Show both ways.")
            // The code block, in the fixed font, with a Copy button.
            const code = item("codeBlock", reply)
            verify(code !== null)
            compare(code.code, "xs.reverse()")
            compare(code.language, "python")
            mouseClick(item("copyCode", reply))
            compare(item("copyCode", reply).text, "Copied")
            // Versions: the second of two, "<" goes to the first.
            compare(item("versionLabel", reply).text, "2/2")
            verify(item("messageStats", reply).text.indexOf("30 tokens") === 0)
            opened.clear()
            mouseClick(item("previousVersion", reply))
            opened.wait(10000)
            // The row is replaced: look the delegate up afresh each time.
            tryVerify(() => item("message1") !== null && item("versionLabel", item("message1")).text === "1/2", 5000)
            // The first version ended the branch; back to the second, whose follow-up failed.
            opened.clear()
            app.chat.switchBranch(1, 1)
            opened.wait(10000)
            tryVerify(() => item("message3") !== null && item("messageError", item("message3")).visible, 5000)
            const error = item("messageError", item("message3"))
            verify(error.text.indexOf("KV cache is full") >= 0, error.text)
        }

        function test_7_newChatIsEmptyAgain() {
            app.chat.newChat()
            tryCompare(item("emptyState"), "visible", true)
            compare(app.chat.messages.count, 0)
            compare(item("emptyTitle").text, "dictlm-16m is ready")
        }
    }
}
