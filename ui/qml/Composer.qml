// The message composer: Enter sends, Shift+Enter starts a new line; Send turns into Stop while a
// reply streams. Below: the draft's token count and how full the model's context is.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Pane {
    id: composer
    property var chat: null
    property bool modelReady: false
    readonly property bool busy: chat ? chat.busy : false
    padding: 10

    function focusInput() { input.forceActiveFocus() }
    function send() {
        if (!chat || !chat.canSend || input.text.trim().length === 0) return
        if (chat.send(input.text)) input.clear()
    }

    background: Rectangle {
        color: palette.window
        Rectangle { width: parent.width; height: 1; color: palette.mid }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 6

        RowLayout {
            Layout.fillWidth: true
            spacing: 8

            ScrollView {
                id: scroller
                Layout.fillWidth: true
                Layout.preferredHeight: Math.min(input.implicitHeight, fm.height * 9)
                TextArea {
                    id: input
                    objectName: "composerInput"
                    wrapMode: TextEdit.Wrap
                    selectByMouse: true
                    enabled: composer.modelReady
                    placeholderText: composer.modelReady ? qsTr("Message the model (Enter to send, Shift+Enter for a new line)")
                                                         : qsTr("Load a model to start chatting")
                    Accessible.name: qsTr("Message")
                    onTextChanged: if (composer.chat) composer.chat.draft = text
                    Keys.onPressed: (event) => {
                        if ((event.key === Qt.Key_Return || event.key === Qt.Key_Enter)
                                && !(event.modifiers & Qt.ShiftModifier)) {
                            event.accepted = true
                            composer.send()
                        }
                    }
                }
            }

            Button {
                objectName: "sendButton"
                text: composer.busy ? qsTr("Stop") : qsTr("Send")
                highlighted: !composer.busy
                enabled: composer.busy || (composer.chat && composer.chat.canSend && input.text.trim().length > 0)
                Accessible.name: composer.busy ? qsTr("Stop generating (Esc)") : qsTr("Send message")
                onClicked: composer.busy ? composer.chat.stop() : composer.send()
            }
        }

        RowLayout {
            Layout.fillWidth: true
            spacing: 12
            Label {
                readonly property int count: composer.chat ? composer.chat.draftTokens : 0
                text: count === 1 ? qsTr("1 token in this message") : qsTr("%1 tokens in this message").arg(count)
                opacity: 0.7
                font.pointSize: Qt.application.font.pointSize * 0.85
                Accessible.name: text
            }
            Item { Layout.fillWidth: true }
            ContextMeter {
                used: composer.chat ? composer.chat.promptTokens + composer.chat.draftTokens : 0
                capacity: composer.chat ? composer.chat.contextLength : 0
            }
        }
    }
    FontMetrics { id: fm }
}
