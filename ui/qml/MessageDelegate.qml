// One message: author, the reasoning block, the answer as Markdown and code blocks, stats, and the
// actions (copy, edit, regenerate, continue, switch version "< 2/3 >"). User messages sit in a
// bubble on the right; replies use the full column.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Item {
    id: message
    required property int index
    required property var messageId
    required property string author
    required property string content
    required property string reasoning
    required property bool thinking
    required property var blocks
    required property int blockCount
    required property string status
    required property bool streaming
    required property string error
    required property int siblingIndex
    required property int siblingCount
    required property string stats
    required property string modelName
    property var chat: null
    property var theme: null
    property bool isLast: false
    property bool editing: false

    readonly property bool isUser: author === "user"
    readonly property real columnWidth: Math.min(width - 32, fm.averageCharacterWidth * 96)
    readonly property bool actionable: !streaming && messageId > 0 && chat && !chat.busy

    objectName: "message" + index
    implicitHeight: column.implicitHeight + 12
    Accessible.role: Accessible.ListItem
    Accessible.name: (isUser ? qsTr("You said") : qsTr("Assistant said")) + ": " + content

    HoverHandler { id: hover }
    FontMetrics { id: fm }

    ColumnLayout {
        id: column
        x: Math.round((message.width - width) / 2)
        y: 6
        width: message.columnWidth
        spacing: 4

        Label {
            Layout.alignment: message.isUser ? Qt.AlignRight : Qt.AlignLeft
            text: message.isUser ? qsTr("You") : (message.modelName.length > 0 ? message.modelName : qsTr("Assistant"))
            font.bold: true
            font.pointSize: Qt.application.font.pointSize * 0.9
            opacity: 0.75
            Accessible.name: qsTr("Author: %1").arg(text)
        }

        Rectangle {
            id: bubble
            Layout.alignment: message.isUser ? Qt.AlignRight : Qt.AlignLeft
            Layout.preferredWidth: message.isUser && !message.editing
                                   ? Math.min(body.implicitWidth + 2 * padding, column.width * 0.85)
                                   : column.width
            Layout.preferredHeight: body.implicitHeight + 2 * padding
            readonly property int padding: message.isUser ? 10 : 0
            radius: 10
            color: message.isUser ? palette.alternateBase : "transparent"

            ColumnLayout {
                id: body
                x: bubble.padding
                y: bubble.padding
                width: bubble.width - 2 * bubble.padding
                spacing: 8

                ReasoningBlock {
                    Layout.fillWidth: true
                    visible: !message.isUser && (message.reasoning.length > 0 || message.thinking)
                    text: message.reasoning
                    thinking: message.thinking
                }

                Repeater {
                    model: message.editing ? 0 : message.blockCount
                    delegate: Loader {
                        required property int index
                        readonly property var block: message.blocks[index]
                        Layout.fillWidth: true
                        sourceComponent: block && block.kind === "code" ? codeComponent : textComponent
                    }
                }

                BusyIndicator {
                    visible: message.streaming && message.blockCount === 0 && !message.thinking
                    running: visible
                    implicitWidth: fm.height * 2
                    implicitHeight: fm.height * 2
                    Accessible.name: qsTr("Waiting for the reply")
                }

                MessageEditor {
                    Layout.fillWidth: true
                    visible: message.editing
                    active: message.editing
                    initialText: message.content
                    onSaved: (text) => { message.editing = false; message.chat.editMessage(message.index, text) }
                    onCancelled: message.editing = false
                }

                Label {
                    objectName: "messageError"
                    Layout.fillWidth: true
                    visible: message.status === "error"
                    text: qsTr("Generation failed: %1").arg(message.error)
                    wrapMode: Text.Wrap
                    color: message.theme && message.theme.dark ? "#ff8a80" : "#b3261e"
                    Accessible.name: text
                }
            }
        }

        MessageActions {
            Layout.alignment: message.isUser ? Qt.AlignRight : Qt.AlignLeft
            Layout.fillWidth: !message.isUser
            message: message
            shown: hover.hovered || message.isLast || message.siblingCount > 1 || activeFocus
        }
    }

    Component {
        id: textComponent
        MarkdownBlock { html: parent ? parent.block.html : "" }
    }
    Component {
        id: codeComponent
        CodeBlock {
            code: parent ? parent.block.text : ""
            language: parent ? parent.block.language : ""
            fixedFont: message.theme ? message.theme.fixedFont : Qt.application.font
        }
    }
}
